"""Planning is pure: plain values in, a decision out."""

from dataclasses import replace

from connectors.internal.view import InternalView
from sync.planning import ops as o
from sync.planning.decisions import (
    AlreadyApplied,
    Apply,
    Hold,
    Invalid,
    Unchanged,
    Withdrawn,
)
from sync.planning.planner import Candidate, LedgerEntry, core_hash, plan
from tests.factories import ID, codes, enrolled, raw_txn, validated


def candidate(raw, scans_ok=True) -> Candidate:
    from mapping import wire
    return Candidate(raw["txn_id"], raw["version"], raw["status"], wire.content_hash(raw), validated(raw, scans_ok))


def view(*people) -> InternalView:
    return InternalView(people={p.person["aac002"]: p for p in people})


def test_enrolment_of_a_new_person():
    decision = plan(candidate(raw_txn("CBDJ")), view(), codes(), None)
    assert isinstance(decision, Apply)
    kinds = [type(op) for op in decision.ops]
    assert kinds == [o.NewPerson, o.NewEnrolment, o.PutBank, o.NewBusinessLog]
    assert decision.ops[1].values["aaz289"] == 3 and decision.ops[1].values["aac049"] == 202611
    assert decision.ops[0].values["aac002"] == ID and decision.ops[3].ywlx == "11"


def test_enrolment_of_someone_actively_enrolled_is_held():
    decision = plan(candidate(raw_txn("CBDJ")), view(enrolled()), codes(), None)
    assert isinstance(decision, Hold) and decision.kind == "already_enrolled"


def test_reenrolment_updates_the_terminated_relation():
    decision = plan(candidate(raw_txn("CBDJ")), view(enrolled(active=False)), codes(), None)
    assert [type(op) for op in decision.ops][:2] == [o.UpdatePerson, o.UpdateEnrolment]
    assert decision.ops[1].aaz159 == 7 and decision.ops[1].values["aac008"] == "1"


def test_back_payment_rows_and_holds():
    decision = plan(candidate(raw_txn("BJ")), view(enrolled()), codes(), None)
    payments = decision.ops[1]
    assert payments.years == (2019, 2020) and str(payments.values["aae022"]) == "500.00"
    assert plan(candidate(raw_txn("BJ")), view(), codes(), None).kind == "not_enrolled"
    raw = raw_txn("BJ")
    raw["payload"].update(years=[2021], amount="500.00")
    held = plan(candidate(raw), view(enrolled()), codes(), None)
    assert held.kind == "year_already_paid" and held.detail == "2021"


def test_change_needs_old_value_to_match():
    decision = plan(candidate(raw_txn("XXBG")), view(enrolled()), codes(), None)
    assert decision.ops[0] == o.UpdatePerson("5301020000000001", {"aae005": "13900139000"})
    assert "13900139000" in decision.ops[-1].bgnr
    stale = plan(candidate(raw_txn("XXBG")), view(enrolled(aae005="13700000000")), codes(), None)
    assert stale.kind == "stale_change" and stale.fields[0]["internal"] == "13700000000"


def test_cancellation_terminates():
    decision = plan(candidate(raw_txn("ZXDJ")), view(enrolled()), codes(), None)
    assert decision.ops[0] == o.UpdateEnrolment(7, {"aac008": "4", "aac031": "3", "aae160": "6401", "aic301": 202611})


def test_transfer_in_writes_transfer_record():
    decision = plan(candidate(raw_txn("ZYZR")), view(), codes(), None)
    assert isinstance(decision.ops[-1], o.NewTransfer) and decision.ops[-1].values["zcdq"] == "520102"


def test_withdrawn_invalid_and_materials():
    assert isinstance(plan(candidate(raw_txn("CBDJ", status="withdrawn")), view(), codes(), None), Withdrawn)
    raw = raw_txn("CBDJ")
    raw["person"]["id_number"] = "123"
    assert isinstance(plan(candidate(raw), view(), codes(), None), Invalid)
    held = plan(candidate(raw_txn("CBDJ"), scans_ok=False), view(), codes(), None)
    assert held.kind == "materials_incomplete"


def test_after_apply_rules():
    raw = raw_txn("CBDJ")
    c = candidate(raw)
    written = {"ywlsh": "YW2026112500000001", "aae016": "0"}
    v = view(enrolled())
    v.applied[raw["txn_id"]] = written
    entry = LedgerEntry("applied", 1, c.content_hash, core_hash(c.validated.record), "YW2026112500000001")
    echo = replace(c, version=2, status="accepted")
    assert isinstance(plan(echo, v, codes(), entry), Unchanged)
    assert isinstance(plan(replace(c, version=2), v, codes(), None), AlreadyApplied)
    assert plan(replace(c, version=2, status="withdrawn"), v, codes(), entry).kind == "withdrawn_after_apply"
    assert isinstance(plan(c, v, codes(), entry), Unchanged)  # an older or equal version


def test_safe_later_version_updates_contact_details_only():
    raw = raw_txn("CBDJ")
    first = candidate(raw)
    v = view(enrolled())
    v.applied[raw["txn_id"]] = {"ywlsh": "YW1", "aae016": "0"}
    entry = LedgerEntry("applied", 1, first.content_hash, core_hash(first.validated.record), "YW1")
    raw2 = raw_txn("CBDJ", version=2)
    raw2["person"]["phone"] = "13711112222"
    decision = plan(candidate(raw2), v, codes(), entry)
    assert isinstance(decision, Apply) and decision.update
    assert decision.ops[0].values["aae005"] == "13711112222"
    raw3 = raw_txn("CBDJ", version=2)
    raw3["payload"]["grade"] = "500.00"
    assert plan(candidate(raw3), v, codes(), entry).kind == "changed_after_apply"
    v.applied[raw["txn_id"]]["aae016"] = "1"
    assert plan(candidate(raw2), v, codes(), entry).kind == "changed_after_apply"
