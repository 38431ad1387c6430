"""Seal and write-back end to end on the sandbox: every result flows back, sealed, once."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bridge import wiring
from connectors.internal import schema as it
from sync import nightly, services
from sync.ledger import tables as lt
from sync.sealing.check import verify_receipt
from sync.verify import verify
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_conflicts import ENROLMENT, PERSON, insert
from tests.integration.test_sync import CLOCK, rows, with_scans


class Night:
    def __init__(self, server, url, home):
        self.server, self.url, self.home = server, url, home

    def run(self, **over):
        self.parts = wiring.build(settings(self.server, self.url, self.home, **over), clock=CLOCK)
        return nightly.run(self.parts)

    def review(self, txn_id: str, verdict: str, remark: str | None = None, qzzt: str | None = None) -> None:
        values = {"aae016": verdict, "aae015": "20261126093000", "aae013": remark}
        if qzzt is not None:
            values["qzzt"] = qzzt
        with self.parts.internal.begin() as conn:
            conn.execute(update(it.ae_ywjl).where(it.ae_ywjl.c.wblsh == txn_id).values(**values))

    def results(self, txn_id: str) -> list[dict]:
        return [r for r in self.server.state.results if r["txn_id"] == txn_id]

    def business(self, txn_id: str) -> dict:
        return rows(self.parts.internal, it.ae_ywjl, wblsh=txn_id)[0]


@pytest.fixture
def night(internal_url, tmp_path):
    def make(scenario):
        return sandbox(scenario), lambda server: Night(server, internal_url, tmp_path)
    return make


def test_enrolment_accepted_then_completed_and_sealed(night, mocker):
    from sync.sealing import service
    from sync.sealing.receipt import split

    rendered = mocker.spy(service, "render")
    txn = raw_txn("CBDJ")
    txn["created_at"] = "2026-11-24 08:15:02"  # the resident's business taken in: not when it was sealed
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        accepted = n.results(txn["txn_id"])
        assert [r["outcome"] for r in accepted] == ["accepted"]
        assert accepted[0]["internal_ref"] == n.business(txn["txn_id"])["ywlsh"] and accepted[0]["version"] == 1
        assert server.state.txns[txn["txn_id"]]["status"] == "accepted"
        n.review(txn["txn_id"], "1", qzzt="1")
        result = n.run()
        completed = n.results(txn["txn_id"])[-1]
        assert completed["outcome"] == "completed" and completed["version"] == 2
        assert completed["seal"]["algorithm"] == "SM2-SM3"
        assert server.state.txns[txn["txn_id"]]["seal_status"] == "sealed"
        seal = rows(n.parts.state, lt.seal)[0]
        assert seal["receipt_sha256"] == completed["seal"]["receipt_sha256"]
        assert verify_receipt(Path(seal["receipt_path"]), n.parts.signer).ok
        # The receipt (issue 26, finding 11): 受理时间 is the platform's created_at; the business in
        # words; the agency; the QR stamp carries the hash written back, and verifies the file alone.
        facts = rendered.call_args.args[0]
        assert facts.accepted_at == "2026-11-24 08:15:02" and facts.agency == n.parts.signer.seal_name
        assert ("缴费档次", "300元") in facts.details and ("参保日期", "2026-11-25") in facts.details
        document = Path(seal["receipt_path"]).read_bytes()
        body, carried = split(document)
        assert hashlib.sha256(body).hexdigest() == seal["receipt_sha256"] == completed["seal"]["receipt_sha256"]
        sidecar = json.loads(Path(seal["receipt_path"] + ".sig.json").read_text(encoding="utf-8"))
        assert carried == sidecar["qr"] and carried.endswith(":" + n.parts.signer.fingerprint)
        assert verify_receipt(Path(seal["receipt_path"]), n.parts.signer, qr=carried).ok
        Path(seal["receipt_path"] + ".sig.json").unlink()
        assert verify_receipt(Path(seal["receipt_path"]), n.parts.signer).key == "receipt.verify_ok_qr"
        assert result.tally.by_state == {"unchanged": 1}  # the echo of 'accepted' changed nothing
        again = n.run()
        assert len(n.results(txn["txn_id"])) == 2 and again.tally.by_state == {"unchanged": 1}
        assert verify(n.parts.internal, n.parts.state, "2").ok


def test_a_quiet_night_reads_no_business_that_still_waits_for_review(night, mocker):
    """'accepted' sent, the review not done: the write-back's scan asks AE_YWJL only for reviewed
    rows, and reads no seal; once reviewed, the row is read and its result is due."""
    from sync import writeback

    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        by_key = mocker.spy(writeback, "_by_key")
        assert writeback.due(n.parts) == ([], 0)
        assert all(answer == {} for answer in by_key.spy_return_list)
        n.review(txn["txn_id"], "1", qzzt="0")
        todo, waiting = writeback.due(n.parts)
        assert todo == [] and waiting == 1  # approved: read now, and it waits for its seal


def test_one_database_reads_by_join_what_two_read_by_keys(internal_url, tmp_path):
    """Ledger and internal tables in one database: the nightly scans (results due, business to
    seal) are joins that leave business waiting for review in the database. They find exactly
    what the lookups by key of two databases find, over every state a night leaves."""
    import dataclasses

    from sandbox.generator import generate
    from sandbox.seed import seed
    from sync import writeback
    from sync.sealing.service import to_seal
    from tests.integration.test_sync import settings_stub

    scenario = generate(120, seed=11, existing=60)
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], scenario["internal"])
    with sandbox(scenario) as server:
        n = Night(server, internal_url, tmp_path)
        n.run()
        applied = [r["txn_id"] for r in rows(n.parts.state, lt.txn) if r["state"] == "applied"]
        for i, txn_id in enumerate(applied[:30]):  # approved, approved and sealed inside, failed, waiting
            n.review(txn_id, ("1", "1", "2", "0")[i % 4], remark="材料不全" if i % 4 == 2 else None,
                     qzzt="1" if i % 4 == 1 else None)
        with n.parts.state.begin() as conn:  # and one withdrawn after apply
            conn.execute(update(lt.txn).where(lt.txn.c.txn_id == applied[31]).values(status="withdrawn"))
        apart = dataclasses.replace(n.parts, same_db=False)
        assert n.parts.same_db
        due = writeback.due(n.parts)
        assert due == writeback.due(apart) and len(due[0]) > 0
        sealable = to_seal(n.parts)
        assert sorted(sealable, key=str) == sorted(to_seal(apart), key=str) and len(sealable) >= 14
        n.run()  # sealed and written back: nothing left for either
        assert writeback.due(n.parts) == writeback.due(apart) == ([], 0)
        assert to_seal(n.parts) == to_seal(apart) == []


def test_change_approved_gets_the_missing_seal(night, internal_url):
    txn = raw_txn("XXBG")
    box, make = night({"seed": 0, "transactions": [txn], "attachments": {}})
    with box as server:
        n = make(server)
        insert(wiring.engines(settings(server, internal_url, n.home))[0], ac01=[PERSON], ac02=[ENROLMENT])
        n.run()
        n.review(txn["txn_id"], "1")  # the internal system leaves QZZT at 0 for 信息变更
        assert n.business(txn["txn_id"])["qzzt"] == "0"
        n.run()
        assert n.business(txn["txn_id"])["qzzt"] == "1"
        assert n.results(txn["txn_id"])[-1]["outcome"] == "completed"
        assert server.state.txns[txn["txn_id"]]["seal_status"] == "sealed"


def test_review_failed_is_rejected_with_its_reason(night):
    txn = raw_txn("BJ")
    enrol = raw_txn("CBDJ", updated_at="2026-11-25 08:00:00")
    box, make = night(with_scans(enrol, txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "2", remark="补缴申请表未签字")
        n.run()
        last = n.results(txn["txn_id"])[-1]
        assert (last["outcome"], last["reason"]) == ("rejected", "补缴申请表未签字")
        assert server.state.txns[txn["txn_id"]]["status"] == "rejected"


def invalid_enrolment() -> dict:
    txn = raw_txn("CBDJ")
    txn["payload"]["grade"] = "350.00"  # not a grade of the code table
    return txn


def test_invalid_record_is_rejected_naming_the_field(night):
    txn = invalid_enrolment()
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        result = n.results(txn["txn_id"])[0]
        assert result["outcome"] == "rejected" and "缴费档次" in result["reason"] and "350" in result["reason"]
        assert "seal" not in result


def test_chunks_overlap_yet_no_result_leaves_before_its_body_is_stored(night, mocker):
    """The workers send one chunk while the next is stored and the last recorded; still every
    POST carries a key and body already committed as ``sending``, and every answer is recorded."""
    from connectors.platform import PlatformClient
    from sync import writeback

    txns = []
    for i in range(70):
        txn = invalid_enrolment()
        txn["txn_id"] = f"RH530102202611250{i:03d}"
        txns.append(txn)
    box, make = night(with_scans(*txns))
    real, stored_first = PlatformClient.post_result, []

    def post(client, txn_id, payload, key):
        with n.parts.state.connect() as conn:
            status = conn.execute(select(lt.writeback.c.status).where(lt.writeback.c.idempotency_key == key)).scalar()
        stored_first.append(status == "sending")
        return real(client, txn_id, payload, key)

    mocker.patch.object(PlatformClient, "post_result", autospec=True, side_effect=post)
    settle = mocker.spy(writeback, "_settle")
    with box as server:
        n = make(server)
        n.run(scan_workers=2)  # chunks of 32: three of them, in flight together
        assert len(stored_first) == 70 and all(stored_first)
        assert sorted(r["txn_id"] for r in server.state.results) == sorted(t["txn_id"] for t in txns)
        assert {r["status"] for r in rows(n.parts.state, lt.writeback)} == {"sent"}
        assert sum(len(c.args[1]) for c in settle.call_args_list) == 70


def test_a_closed_transaction_leaves_the_nightly_scan_until_a_new_version_reopens_it(night):
    """A final result answering the latest version (or the one its echo replaced) closes the
    transaction for the write-back's scan; the agent correcting a rejected record opens it
    again, and its new result flows."""
    from sync.writeback import _ledger_rows

    txn = invalid_enrolment()
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        assert [r["outcome"] for r in n.results(txn["txn_id"])] == ["rejected"]
        assert _ledger_rows(n.parts) == []  # closed: not read again night after night
        fixed = copy.deepcopy(server.state.txns[txn["txn_id"]])
        later = datetime.strptime(fixed["updated_at"], "%Y-%m-%d %H:%M:%S") + timedelta(minutes=1)
        fixed.update(version=fixed["version"] + 1, status="submitted", updated_at=f"{later:%Y-%m-%d %H:%M:%S}",
                     payload=dict(fixed["payload"], grade="300.00"))
        server.state.put(fixed, lag=0)
        n.run()
        assert [r["outcome"] for r in n.results(txn["txn_id"])] == ["rejected", "accepted"]
        assert n.results(txn["txn_id"])[-1]["version"] == fixed["version"]


def _withdrawn_during_write_back(night, mocker, txn, answered=None):
    """A night in which the agent withdraws ``txn`` just before its result is sent: the result is
    superseded and the transaction fetched again, answered with ``answered`` when given."""
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        real = services.write_back

        def agent_withdraws_first(command, parts):
            server.state.put(dict(copy.deepcopy(txn), version=2, status="withdrawn", updated_at="2026-11-25 22:00:00"))
            if answered is not None:
                mocker.patch.object(parts.platform, "transaction", return_value=answered)
            return real(command, parts)

        mocker.patch.object(services, "write_back", agent_withdraws_first)
        return n, server, n.run()


def test_withdrawal_racing_a_write_back_is_never_overwritten(night, mocker):
    txn = raw_txn("CBDJ")
    n, server, result = _withdrawn_during_write_back(night, mocker, txn)
    assert server.state.txns[txn["txn_id"]]["status"] == "withdrawn" and n.results(txn["txn_id"]) == []
    assert result.after["writeback"]["superseded"] == 1
    assert rows(n.parts.state, lt.txn, txn_id=txn["txn_id"])[0]["reason_kind"] == "withdrawn_after_apply"


def test_a_newer_version_answered_for_another_transaction_is_not_taken_in(night, mocker):
    """Superseded, the result's transaction is fetched again (``take_in``): an answer that is
    another transaction's snapshot is not staged, under either id; the feed brings the right one."""
    txn = raw_txn("CBDJ")
    other = dict(copy.deepcopy(txn), txn_id="RHANOTHER0001", version=7, status="withdrawn")
    n, _, result = _withdrawn_during_write_back(night, mocker, txn, answered=other)
    assert result.after["writeback"]["superseded"] == 1
    assert rows(n.parts.state, lt.txn, txn_id="RHANOTHER0001") == []
    assert [r["version"] for r in rows(n.parts.state, lt.txn_version, txn_id=txn["txn_id"])] == [1]


def test_killed_between_sealing_and_write_back_seals_once(night, mocker):
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "1", qzzt="1")
        mocker.patch.object(services, "write_back", side_effect=KeyboardInterrupt("killed after sealing"))
        with pytest.raises(KeyboardInterrupt):
            n.run()
        first = rows(n.parts.state, lt.seal)[0]
        mocker.stopall()
        n.run()
        seal = rows(n.parts.state, lt.seal)[0]
        assert (seal["attempts"], seal["signature"], seal["sealed_at"]) == (1, first["signature"], first["sealed_at"])
        assert n.results(txn["txn_id"])[-1]["seal"]["signature"] == first["signature"]


def test_crash_after_posting_resends_the_same_key_once(night, mocker):
    from sync import writeback
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        real = writeback._settle  # the answers of a chunk are recorded together, after it is sent
        mocker.patch.object(writeback, "_settle", side_effect=KeyboardInterrupt("killed after the platform answered"))
        with pytest.raises(KeyboardInterrupt):
            n.run()
        assert len(n.results(txn["txn_id"])) == 1
        mocker.patch.object(writeback, "_settle", real)
        n.run()
        assert len(n.results(txn["txn_id"])) == 1  # the retry hit the same key: no second effect
        sent = rows(n.parts.state, lt.writeback, txn_id=txn["txn_id"])
        assert [s["status"] for s in sent] == ["sent"]


def test_seal_failure_marks_qzzt_2_and_is_retried(night, mocker):
    txn = raw_txn("XXBG")
    box, make = night({"seed": 0, "transactions": [txn], "attachments": {}})
    with box as server:
        n = make(server)
        insert(wiring.engines(settings(server, n.url, n.home))[0], ac01=[PERSON], ac02=[ENROLMENT])
        n.run()
        n.review(txn["txn_id"], "1")
        mocker.patch("sync.sealing.service.render", side_effect=OSError("disk full"))
        result = n.run()
        assert result.after["seal"] == {"sealed": 0, "failed": 1}
        assert n.business(txn["txn_id"])["qzzt"] == "2"
        assert rows(n.parts.state, lt.seal)[0]["failure"].startswith("OSError")
        assert [r["outcome"] for r in n.results(txn["txn_id"])] == ["accepted"]  # completed waits for the seal
        mocker.stopall()
        n.run()
        assert n.business(txn["txn_id"])["qzzt"] == "1"
        assert n.results(txn["txn_id"])[-1]["outcome"] == "completed"


def test_audit_trail_is_tamper_evident(night):
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "1", qzzt="1")
        n.run()
    entries = rows(n.parts.state, lt.audit)
    assert [e["action"] for e in entries] == ["writeback", "seal:sealed", "writeback"]
    assert verify(n.parts.internal, n.parts.state, "2").ok
    with n.parts.state.begin() as conn:
        conn.execute(update(lt.audit).where(lt.audit.c.id == entries[1]["id"]).values(subject="YW0"))
    assert any("content was changed" in p for p in verify(n.parts.internal, n.parts.state, "2").problems)
    with n.parts.state.begin() as conn:
        conn.execute(update(lt.audit).where(lt.audit.c.id == entries[1]["id"]).values(subject=entries[1]["subject"]))
        conn.execute(lt.audit.delete().where(lt.audit.c.id == entries[0]["id"]))
    assert any("changed or removed" in p for p in verify(n.parts.internal, n.parts.state, "2").problems)


def test_a_night_after_a_finished_one_reads_only_what_can_owe_something(night, mocker):
    """The first night reads the whole ledger; the next ones only the rows that can owe a seal
    or a result since: no result for their latest version, a review inside since, a failure."""
    from mapping import idcard
    from sync import sweep, writeback

    waiting = raw_txn("CBDJ")
    reviewed = raw_txn("CBDJ", txn_id="RH53010220261125CB02")
    reviewed["person"] = dict(reviewed["person"], id_number=idcard.make("53010219900307125"), name="王五")
    box, make = night(with_scans(waiting, reviewed))
    with box as server:
        n = make(server)
        first = n.run()
        assert first.after["sweep"]["full"] and first.after["sweep"]["reason"] == "first"
        answered = {r["txn_id"]: r["answered_version"] for r in rows(n.parts.state, lt.txn)}
        assert answered == {waiting["txn_id"]: 1, reviewed["txn_id"]: 1}  # 'accepted' went out for v1
        n.review(reviewed["txn_id"], "1", qzzt="1")
        read = mocker.spy(writeback, "_ledger_rows")
        second = n.run()
        assert second.after["sweep"] == {"full": False, "reason": "window", "candidates": 1,
                                         "since": "2026-11-26 02:00:00"}
        assert [call.kwargs["only"] for call in read.call_args_list] == [[reviewed["txn_id"]]]
        assert [r["outcome"] for r in n.results(reviewed["txn_id"])] == ["accepted", "completed"]
        assert [r["outcome"] for r in n.results(waiting["txn_id"])] == ["accepted"]
        third = n.run()  # the echo of 'completed' came in: read again while its review is recent, owing nothing
        assert third.after["sweep"]["candidates"] == 1 and third.after["writeback"]["sent"] == 0
        assert sweep.candidates(n.parts, CLOCK() - timedelta(days=2)) == {reviewed["txn_id"]}
        assert sweep.candidates(n.parts, CLOCK() + timedelta(hours=8)) == set()  # reviewed 09:30: before


def test_a_review_the_window_cannot_see_waits_for_the_full_sweep(night, internal_url, tmp_path):
    """A review time written far in the past is outside every window: the weekly full sweep
    (here: a week later) finds it and its result goes out."""
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "1", qzzt="1")
        with n.parts.internal.begin() as conn:
            conn.execute(update(it.ae_ywjl).where(it.ae_ywjl.c.wblsh == txn["txn_id"]).values(aae015="20200101000000"))
        window = n.run()
        assert window.after["sweep"]["reason"] == "window" and len(n.results(txn["txn_id"])) == 1
        week = wiring.build(settings(server, internal_url, tmp_path), clock=lambda: CLOCK() + timedelta(days=7))
        full = nightly.run(week)
        assert full.after["sweep"] == {"full": True, "reason": "due", "candidates": None, "since": None}
        assert [r["outcome"] for r in n.results(txn["txn_id"])] == ["accepted", "completed"]


def test_a_window_with_more_rows_than_a_full_read_costs_reads_in_full(night):
    from sync import sweep

    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "1", qzzt="1")
        assert sweep.candidates(n.parts, CLOCK() - timedelta(days=2), most=1) == {txn["txn_id"]}
        assert sweep.candidates(n.parts, CLOCK() - timedelta(days=2), most=0) is None
        assert sweep.plan(n.parts, timedelta(days=7), timedelta(hours=48), most=0).reason == "many"
        assert sweep.plan(n.parts, None, timedelta(hours=48)).reason == "always_full"
        assert nightly.run(n.parts).after["sweep"]["candidates"] == 1


def test_a_night_that_could_not_write_back_leaves_the_window_where_it_was(night, mocker):
    """The platform down during the write-back: the next night's window still starts at the last
    night that finished, so nothing reviewed in between is missed."""
    from connectors.platform import RetryBudgetExhausted
    from sync import checkpoint, sweep

    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        with n.parts.state.connect() as conn:
            before = checkpoint.read(conn, sweep.WINDOW).updated_at
        mocker.patch.object(services, "write_back", side_effect=RetryBudgetExhausted("down"))
        later = wiring.build(settings(server, n.url, n.home), clock=lambda: CLOCK() + timedelta(days=1))
        assert nightly.run(later).status == "incomplete"
        with n.parts.state.connect() as conn:
            assert checkpoint.read(conn, sweep.WINDOW).updated_at == before


def test_verify_names_a_transaction_marked_answered_without_a_result(night):
    """The hint that lets a quiet night skip a row must stand on a result sent for that version."""
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        assert verify(n.parts.internal, n.parts.state, "2").ok
        with n.parts.state.begin() as conn:
            conn.execute(update(lt.txn).where(lt.txn.c.txn_id == txn["txn_id"]).values(answered_version=7))
        problems = verify(n.parts.internal, n.parts.state, "2").problems
        assert problems == [f"{txn['txn_id']}: marked answered, yet no result was sent for that version"]


def test_a_review_without_its_time_is_still_written_back_with_one(night):
    """AAE015 null on a reviewed business: the body says when it was entered, never null."""
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "2", remark="材料不全")
        with n.parts.internal.begin() as conn:
            conn.execute(update(it.ae_ywjl).where(it.ae_ywjl.c.wblsh == txn["txn_id"]).values(aae015=None))
        result = n.run(full_sweep_days=0)  # a review without its time: the window cannot see it
        last = n.results(txn["txn_id"])[-1]
    assert (last["outcome"], last["processed_at"]) == ("rejected", "2026-11-26 02:00:00")
    assert result.after["writeback"]["refused"] == 0 and result.after["writeback"]["failed"] == 0


def test_an_unexpected_review_status_is_not_sent(night):
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "9")
        n.run()
        assert [r["outcome"] for r in n.results(txn["txn_id"])] == ["accepted"]


def test_a_result_refused_as_malformed_is_not_resent_until_its_body_changes(night, mocker):
    from connectors.platform import PlatformClient
    from connectors.platform.errors import FatalError

    txn = raw_txn("CBDJ")
    real, calls = PlatformClient.post_result, []

    def refuse_accepted(self, txn_id, body, key):
        calls.append((key, body["outcome"]))
        if body["outcome"] == "accepted":
            raise FatalError("40001: invalid result: handler", 40001)
        return real(self, txn_id, body, key)

    mocker.patch.object(PlatformClient, "post_result", refuse_accepted)
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        first = n.run()
        second = n.run()  # the same body: not sent again
        with n.parts.state.connect() as conn:
            stored = conn.execute(select(lt.writeback.c.status, lt.writeback.c.last_error)).all()
        n.review(txn["txn_id"], "2", remark="材料不全")  # another outcome, another body: sent
        third = n.run()
        results = n.results(txn["txn_id"])
    assert first.after["writeback"]["refused"] == 1 and second.after["writeback"]["refused"] == 0
    assert [c[1] for c in calls] == ["accepted", "rejected"]
    assert stored == [("refused", "40001: invalid result: handler")]
    assert third.status == "completed" and [r["outcome"] for r in results] == ["rejected"]
