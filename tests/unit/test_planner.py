"""Planning is pure: plain values in, a decision out."""

from dataclasses import replace

from mapping.internal import BankRow, BusinessRow, EnrolmentRow, InternalView
from sync.planning import ops as o
from sync.planning.decisions import (
    AlreadyApplied,
    Apply,
    Hold,
    Invalid,
    Link,
    Unchanged,
    Withdrawn,
)
from sync.planning.planner import Candidate, LedgerEntry, Rules, core_hash, plan
from tests.factories import ID, codes, enrolled, raw_txn, validated


def candidate(raw, scans_ok=True) -> Candidate:
    from mapping import wire
    return Candidate(raw["txn_id"], raw["version"], raw["status"], wire.content_hash(raw), validated(raw, scans_ok))


def view(*people) -> InternalView:
    return InternalView(people={p.person.aac002: p for p in people})


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
    written = BusinessRow(ywlsh="YW2026112500000001", aae016="0")
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
    v.applied[raw["txn_id"]] = BusinessRow(ywlsh="YW1", aae016="0")
    entry = LedgerEntry("applied", 1, first.content_hash, core_hash(first.validated.record), "YW1")
    raw2 = raw_txn("CBDJ", version=2)
    raw2["person"]["phone"] = "13711112222"
    decision = plan(candidate(raw2), v, codes(), entry)
    assert isinstance(decision, Apply) and decision.update
    assert decision.ops[0].values["aae005"] == "13711112222"
    raw3 = raw_txn("CBDJ", version=2)
    raw3["payload"]["grade"] = "500.00"
    assert plan(candidate(raw3), v, codes(), entry).kind == "changed_after_apply"
    v.applied[raw["txn_id"]] = v.applied[raw["txn_id"]]._replace(**{"aae016": "1"})
    assert plan(candidate(raw2), v, codes(), entry).kind == "changed_after_apply"


# --- Domain rules (issue 23): what the pension database may receive ------------------------------

def test_reenrolment_writes_only_the_contact_details_present():
    raw = raw_txn("CBDJ")
    del raw["person"]["phone"], raw["person"]["address"]
    decision = plan(candidate(raw), view(enrolled(active=False)), codes(), None)
    person = decision.ops[0]
    assert isinstance(person, o.UpdatePerson)
    assert "aae005" not in person.values and "aae006" not in person.values
    assert None not in person.values.values() and person.values["aab301"] == "530102001001"


def test_someone_covered_by_another_pension_is_not_enrolled_in_the_residents_scheme():
    state = enrolled(active=False)
    state.enrolment = None
    state.other_schemes = [EnrolmentRow(aaz159=9, aac001=state.aac001, aae140="110", aac008="1")]
    for biz in ("CBDJ", "ZYZR"):
        held = plan(candidate(raw_txn(biz)), view(state), codes(), None)
        assert isinstance(held, Hold) and held.kind == "other_pension_active" and held.detail == "110"
    state.other_schemes[0] = state.other_schemes[0]._replace(**{"aac008": "4"})  # the employee pension ended
    assert isinstance(plan(candidate(raw_txn("CBDJ")), view(state), codes(), None), Apply)


def _grade_change(new="500.00"):
    raw = raw_txn("XXBG")
    raw["payload"]["changes"] = [{"field": "grade", "old": "300.00", "new": new}]
    return raw


def test_a_grade_change_waits_for_next_year_when_this_year_is_paid():
    paid = enrolled()
    paid.paid_years.add(2026)
    held = plan(candidate(_grade_change()), view(paid), codes(), None)
    assert isinstance(held, Hold) and held.kind == "grade_next_year" and held.detail == "2026"
    applied = plan(candidate(_grade_change()), view(enrolled()), codes(), None)  # 2026 not paid yet
    assert applied.ops[0] == o.UpdateEnrolment(7, {"aaz289": 5})
    forced = plan(candidate(_grade_change()), view(paid), codes(), None, Rules(force=True))
    assert isinstance(forced, Apply)


def test_a_grade_not_offered_never_becomes_null():
    decision = plan(candidate(_grade_change("350.00")), view(enrolled()), codes(), None)
    assert isinstance(decision, Invalid)
    assert not any(isinstance(op, o.UpdateEnrolment) and op.values.get("aaz289") is None
                   for op in getattr(decision, "ops", ()))


def _hand_typed_change(fields, days_before=2):
    import json
    return BusinessRow(ywlsh="YW2026112300000009", aac001="5301020000000001", ywlx="13", sjly="1", wblsh=None,
                       aae036=f"202611{25 - days_before:02d}091000", aae016="0",
                       bgnr=json.dumps([{"field": f, "old": "x", "new": "y"} for f in fields]))


def test_a_hand_typed_change_of_another_field_is_another_business():
    state = enrolled()
    state.business.append(_hand_typed_change(["address"]))
    decision = plan(candidate(raw_txn("XXBG")), view(state), codes(), None)
    assert isinstance(decision, Apply) and not isinstance(decision, Link)
    assert decision.ops[0] == o.UpdatePerson("5301020000000001", {"aae005": "13900139000"})
    same = enrolled(aae005="13900139000")  # the counter typed the same phone change already
    same.business.append(_hand_typed_change(["phone"]))
    linked = plan(candidate(raw_txn("XXBG")), view(same), codes(), None)
    assert isinstance(linked, Link) and linked.ywlsh == "YW2026112300000009"


def test_business_of_another_region_than_the_persons_is_held():
    state = enrolled(aab301="530103001001")
    for biz in ("BJ", "XXBG", "ZXDJ"):
        held = plan(candidate(raw_txn(biz)), view(state), codes(), None)
        assert isinstance(held, Hold) and held.kind == "region_mismatch"
    county = raw_txn("BJ", region_code="530103")  # a county-level business covering the person's village
    assert isinstance(plan(candidate(county), view(state), codes(), None), Apply)


def test_a_village_missing_from_the_region_table_is_held_for_an_operator():
    held = plan(candidate(raw_txn("CBDJ", region_code="530102001999")), view(), codes(), None)
    assert isinstance(held, Hold) and held.kind == "region_unlisted" and held.detail == "530102001999"
    forced = plan(candidate(raw_txn("CBDJ", region_code="530102001999")), view(), codes(), None, Rules(force=True))
    assert isinstance(forced, Apply)


def test_a_person_terminated_for_death_is_not_reenrolled_without_an_operator():
    dead = enrolled(active=False)
    dead.enrolment = dead.enrolment._replace(**{"aae160": "6401", "aac031": "3"})
    held = plan(candidate(raw_txn("CBDJ")), view(dead), codes(), None)
    assert isinstance(held, Hold) and held.kind == "deceased"
    emigrated = enrolled(active=False)
    emigrated.enrolment = emigrated.enrolment._replace(**{"aae160": "6406"})
    assert isinstance(plan(candidate(raw_txn("CBDJ")), view(emigrated), codes(), None), Apply)
    assert isinstance(plan(candidate(raw_txn("CBDJ")), view(dead), codes(), None, Rules(force=True)), Apply)


def _hand_typed_enrolment(state, **bank):
    state.enrolment = state.enrolment._replace(**{"aac049": 202611, "aaz289": 3})
    state.bank = BankRow(**{"aac001": state.aac001, "aae008": "102", "aae009": "张三", "aae010": "6217000012345678901",
                            **bank})
    state.business.append(BusinessRow(ywlsh="YW2026112500000003", aac001=state.aac001, ywlx="11", sjly="1",
                                      wblsh=None, aae036="20261125080000", aae016="0", bgnr=None))
    return state


def test_double_entry_of_an_enrolment_compares_everything_it_writes():
    assert isinstance(plan(candidate(raw_txn("CBDJ")), view(_hand_typed_enrolment(enrolled())), codes(), None), Link)
    cases = {"region_code": enrolled(aab301="530102001002"), "person.hukou_type": enrolled(aac009="10"),
             "person.ethnicity": enrolled(aac005="02"),
             "payload.bank_account.bank_code": _hand_typed_enrolment(enrolled(), aae008="103"),
             "payload.bank_account.holder_name": _hand_typed_enrolment(enrolled(), aae009="李四")}
    for field, state in cases.items():
        if not state.business:
            _hand_typed_enrolment(state)
        held = plan(candidate(raw_txn("CBDJ")), view(state), codes(), None)
        assert isinstance(held, Hold) and held.kind == "double_entry_mismatch", field
        assert [f["field"] for f in held.fields] == [field]
    month = _hand_typed_enrolment(enrolled())
    month.enrolment = month.enrolment._replace(**{"aac049": 202610})
    held = plan(candidate(raw_txn("CBDJ")), view(month), codes(), None)
    assert [f["field"] for f in held.fields] == ["payload.enroll_date"]


def test_an_optional_field_left_out_is_told_to_the_reviewer():
    raw = raw_txn("CBDJ")
    raw["person"]["phone"] = "6512345"
    decision = plan(candidate(raw), view(), codes(), None)
    log = decision.ops[-1]
    assert isinstance(log, o.NewBusinessLog) and "联系电话" in log.remark
    assert decision.ops[0].values["aae005"] is None
    assert plan(candidate(raw_txn("CBDJ")), view(), codes(), None).ops[-1].remark is None


def test_review_and_seal_codes_come_from_configuration(monkeypatch):
    """Finding 14: AAE016 and QZZT values are read from config/codes.toml, not written as literals."""
    import re
    from pathlib import Path

    import mapping.codes
    from mapping.codes import code

    assert [code("review", k) for k in ("pending", "approved", "refused")] == ["0", "1", "2"]
    assert [code("seal", k) for k in ("unsealed", "sealed", "failed")] == ["0", "1", "2"]
    assert codes().setting("review", "pending") == code("review", "pending")
    literal = re.compile(r"""(aae016|qzzt)["']?\s*(==|!=|=|:)\s*["'][0-9]["']""", re.IGNORECASE)
    root = Path(__file__).resolve().parents[2]
    offenders = [f"{p.relative_to(root)}:{n}" for d in ("sync", "reports", "console", "mapping", "connectors")
                 for p in (root / d).rglob("*.py") if "migrations" not in p.parts
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if literal.search(line)]
    assert offenders == []
    other = {**mapping.codes.load_toml("codes.toml"), "review": {"pending": "P", "approved": "A", "refused": "R"}}
    monkeypatch.setattr(mapping.codes, "load_toml", lambda name: other)
    v = InternalView()
    o.NewBusinessLog("P1", "11", "T1").simulate(v, None)
    assert v.applied["T1"].aae016 == "P"


def test_a_type_without_a_planner_is_a_named_refusal_never_a_key_error():
    import pytest

    from sync.planning.registry import IncompleteBusinessType, planner_for

    with pytest.raises(IncompleteBusinessType) as refused:
        planner_for("QTYW")
    assert refused.value.code == "QTYW" and refused.value.missing == ["planner"]
    assert "QTYW" in str(refused.value) and "入库规划" in str(refused.value)
