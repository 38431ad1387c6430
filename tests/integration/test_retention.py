"""Retention (issue 27): a purge over a ledger with every state takes only what is done and owes
nothing; verify, the reports, the conflict queue and the next night keep working over it."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mapping import idcard
from reports.render import write_many
from reports.unsynced import Filters, UnsyncedReport
from sync import atrest, audit, retention
from sync import conflicts as queue
from sync.ledger import payloads
from sync.ledger import tables as lt
from sync.scans import ScanStore
from sync.verify import verify
from tests.factories import raw_txn
from tests.integration.test_seal_writeback import invalid_enrolment, night  # noqa: F401  (fixture)
from tests.integration.test_sync import CLOCK, JPEG

DAYS = 180


@pytest.fixture(autouse=True)
def _process_ring_restored():
    yield
    atrest.configure(atrest.Keyring())


def person(txn: dict, i: int, txn_id: str) -> dict:
    txn["txn_id"] = txn_id
    txn["person"]["id_number"] = idcard.make(f"53010219900307{100 + 2 * i + 1:03d}")  # odd: the gender M
    txn["person"]["name"] = f"居民{i}"
    return txn


def scenario(*txns: dict) -> dict:
    """Each transaction with scans of its own (a purge deletes a scan only it needs)."""
    attachments = {}
    for txn in txns:
        for a in txn["attachments"]:
            content = JPEG + txn["txn_id"].encode() + a["attachment_id"].encode()
            a["attachment_id"] = f"{txn['txn_id']}-{a['attachment_id']}"
            a["sha256"] = hashlib.sha256(content).hexdigest()
            attachments[a["attachment_id"]] = {"content": content, "content_type": "image/jpeg"}
    return {"seed": 0, "transactions": list(txns), "attachments": attachments}


def test_a_purge_over_every_state_keeps_what_is_owed_and_verify_passes(night, tmp_path):  # noqa: F811
    key = tmp_path / "data-key.json"
    atrest.write_key(key, atrest.DataKey.new())
    done = person(raw_txn("CBDJ"), 1, "RH53010220261125CB11")                # completed, sealed, answered
    waiting = person(raw_txn("CBDJ"), 2, "RH53010220261125CB12")             # accepted: waits for review
    conflict = person(raw_txn("CBDJ"), 3, "RH53010220261125CB13")
    conflict["attachments"] = conflict["attachments"][:0]                     # materials missing: open conflict
    invalid = person(invalid_enrolment(), 4, "RH53010220261125CB14")         # rejected, answered
    withdrawn = person(raw_txn("CBDJ", status="withdrawn"), 5, "RH53010220261125CB15")
    unsealed = person(raw_txn("CBDJ"), 6, "RH53010220261125CB16")            # its seal failed
    unanswered = person(invalid_enrolment(), 7, "RH53010220261125CB17")      # its result failed
    everyone = [done, waiting, conflict, invalid, withdrawn, unsealed, unanswered]
    box, make = night(scenario(*everyone))
    with box as server:
        n = make(server)
        n.run(data_key=key)
        for txn in (done, unsealed):
            n.review(txn["txn_id"], "1", qzzt="1")
        n.run(data_key=key)
        _purge_and_check(n, key, everyone, tmp_path)


def _purge_and_check(n, key, everyone, tmp_path):
    done, waiting, conflict, invalid, withdrawn, unsealed, unanswered = everyone
    state, store = n.parts.state, ScanStore(n.parts.scan_dir)
    with state.begin() as conn:  # what the night could not finish, as it would be left
        conn.execute(update(lt.seal).where(lt.seal.c.txn_id == unsealed["txn_id"]).values(status="failed"))
        conn.execute(update(lt.writeback).where(lt.writeback.c.txn_id == unanswered["txn_id"]).values(status="failed"))
        conn.execute(update(lt.txn).where(lt.txn.c.txn_id == unanswered["txn_id"]).values(answered_version=None))
        states = dict(conn.execute(select(lt.txn.c.txn_id, lt.txn.c.state)).all())
    assert set(states.values()) >= {"applied", "conflict", "invalid", "withdrawn"}, states

    def scans_of(txn):
        return [a["sha256"] for a in txn["attachments"]]

    assert all(store.has(s) for t in (done, waiting, unsealed) for s in scans_of(t))
    assert retention.due(state, CLOCK() + timedelta(days=DAYS - 1), DAYS) == []  # not yet
    now = CLOCK() + timedelta(days=DAYS + 1)
    expected = {done["txn_id"], invalid["txn_id"], withdrawn["txn_id"]}
    assert {d.txn_id for d in retention.due(state, now, DAYS)} == expected  # what --dry-run lists

    purged = retention.purge(state, store, now, DAYS)
    assert purged.transactions == 3 and retention.due(state, now, DAYS) == []

    with state.connect() as conn:
        stored = {(r.txn_id, r.version): r.raw for r in conn.execute(select(lt.txn_version))}
        entries = conn.execute(select(lt.audit).where(lt.audit.c.action == "purge")).all()
    for (txn_id, version), raw in stored.items():
        body = payloads.open_json(raw, txn_id, version)
        txn = next(t for t in everyone if t["txn_id"] == txn_id)
        if txn_id in expected:  # its hash and what it was; no one's data
            kept = body[payloads.PURGED]
            assert kept["txn_id"] == txn_id and len(kept["sha256"]) == 64 and kept["biz_type"] == "CBDJ"
            assert txn["person"]["id_number"] not in json.dumps(body, ensure_ascii=False)
        else:
            assert body["person"]["id_number"] == txn["person"]["id_number"]
    assert not any(store.has(s) for t in (done, invalid) for s in scans_of(t))
    assert all(store.has(s) for t in (waiting, unsealed) for s in scans_of(t))  # an invalid one has none fetched
    assert len(entries) == 1 and set(json.loads(entries[0].detail)["transactions"]) == expected

    heads = audit.heads_path(n.parts.home)
    report = verify(n.parts.internal, state, "2", heads=heads, signer=n.parts.signer)
    assert report.ok, report.problems
    with state.connect() as conn:
        conflict_id = conn.execute(select(lt.conflict.c.id).where(lt.conflict.c.status == "open")).scalar_one()
    assert queue.show(state, conflict_id)["platform"]["person"]["name"] == conflict["person"]["name"]
    report_file = tmp_path / "unsynced.json"
    count, _ = write_many(UnsyncedReport(n.parts.internal, state, n.parts.context.regions, n.parts.codes, now),
                          Filters(), {"json": report_file})
    assert count >= 3 and report_file.exists()  # the waiting, the conflict, the unanswered: still reported

    again = n.run(data_key=key)  # the next night over purged history
    assert again.status == "completed"
    assert verify(n.parts.internal, n.parts.state, "2", heads=heads, signer=n.parts.signer).ok
