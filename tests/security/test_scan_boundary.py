"""Attacks through attachments and feed items, against the real sandbox platform and a hostile one.

Issue 22, findings 1, 2 and 5: a declared ``sha256`` that is a path read any file of the host and
satisfied required materials; one that is a number, or an item nested 200,000 levels deep, stopped
every night. Each attack is sent as an agent could send it and must now fail, costing only its
own record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import wiring
from sync import engine
from sync.ledger import tables as lt
from sync.scans import ScanStore
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.security.hostile_platform import HostilePlatform, feed_page

CLOCK = lambda: datetime(2026, 11, 26, 2, 0, 0)  # noqa: E731 - a fixed night
JPEG = b"\xff\xd8\xff\xe0" + b"a real scan" * 40
OTHER_ID = "11010519491231002X"


def _clean(txn_id: str, biz: str = "CBDJ") -> dict:
    txn = raw_txn(biz, txn_id=txn_id)
    txn["person"] = dict(txn["person"], id_number=OTHER_ID, birth_date="1949-12-31", gender="F")
    for a in txn["attachments"]:
        a["attachment_id"] = f"{txn_id}-{a['attachment_id']}"
        a["sha256"] = hashlib.sha256(JPEG).hexdigest()
    return txn


def _ledger(parts) -> dict[str, dict]:
    with parts.state.connect() as conn:
        return {r.txn_id: dict(r._mapping) for r in conn.execute(select(lt.txn))}


def _runs(parts) -> list[str]:
    with parts.state.connect() as conn:
        return [r.status for r in conn.execute(select(lt.run.c.status))]


def _store_is_content_addressed(home: Path) -> None:
    """Every file the scan store holds is named by the hash of its bytes."""
    for path in (home / "scans").rglob("*"):
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path


@pytest.mark.parametrize("declared", ["/etc/passwd", "./../internal.db", "../../bridge.env", "..", "0" * 63 + "/",
                                      "g" * 64, "a" * 64 + "/.."])
def test_a_path_as_hash_reads_nothing_and_satisfies_nothing(declared, internal_url, tmp_path):
    (tmp_path / "bridge.env").write_text("BRIDGE_APP_SECRET=s3cret\n")
    attack = raw_txn("CBDJ", txn_id="RHATTACK0001")
    for a in attack["attachments"]:
        a["attachment_id"] = f"ATT-{a['attachment_id']}"
        a["sha256"] = declared
    clean = _clean("RHCLEAN0001")
    scenario = {"seed": 0, "transactions": [attack, clean], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in clean["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    ledger = _ledger(parts)
    assert ledger["RHCLEAN0001"]["state"] == "applied"
    # Not applied, not "materials incomplete" waiting for a scan: invalid, naming the field.
    assert ledger["RHATTACK0001"]["state"] == "invalid"
    reasons = json.loads(ledger["RHATTACK0001"]["reasons"])
    assert any(r["field"].startswith("attachments[") and r["field"].endswith(".sha256") for r in reasons), reasons
    with parts.state.connect() as conn:
        kept = {r.attachment_id: r for r in conn.execute(select(lt.attachment))}
    assert not any(k.startswith("ATT-") and r.status == "ok" for k, r in kept.items())
    _store_is_content_addressed(tmp_path)


def test_the_store_names_files_only_by_a_verified_hash(tmp_path):
    store = ScanStore(tmp_path / "scans")
    for bad in ("/etc/passwd", "../x", "0" * 63, "G" * 64, "A" * 64, 12):
        assert not store.has(bad)
        with pytest.raises(ValueError):
            store.path(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # bytes are kept only under their own hash
        store.put("0" * 64, JPEG)
    digest = hashlib.sha256(JPEG).hexdigest()
    store.put(digest, JPEG)
    assert store.read(digest) == JPEG
    store.path(digest).write_bytes(b"changed on disk")
    with pytest.raises(ValueError):
        store.read(digest)


def test_a_hash_that_is_a_number_costs_only_its_record(internal_url, tmp_path):
    attack = raw_txn("BJ", txn_id="RHNUMBER0001")
    attack["attachments"] = [{"attachment_id": "N1", "kind": "application_form", "sha256": 12345, "size": 10}]
    clean = _clean("RHCLEAN0002")
    scenario = {"seed": 0, "transactions": [attack, clean], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in clean["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
        again = engine.run(parts)
    assert result.status == again.status == "completed"
    assert "running" not in _runs(parts)
    ledger = _ledger(parts)
    assert ledger["RHCLEAN0002"]["state"] == "applied" and ledger["RHNUMBER0001"]["state"] == "invalid"


def test_withdrawn_and_invalid_records_fetch_no_scans(internal_url, tmp_path):
    withdrawn = _clean("RHWITHDRAWN1")
    withdrawn["status"] = "withdrawn"
    invalid = _clean("RHINVALID001")
    invalid["person"]["id_number"] = "110105194912310021"  # a wrong check digit: invalid whatever its scans
    clean = _clean("RHCLEAN0003")
    clean["person"]["id_number"] = "440524188001010014"
    clean["person"]["birth_date"] = "1880-01-01"
    clean["person"]["gender"] = "M"
    txns = [withdrawn, invalid, clean]
    scenario = {"seed": 0, "transactions": txns, "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for t in txns for a in t["attachments"]}}
    for t in txns:  # one scan per transaction: each gets its own bytes
        for i, a in enumerate(t["attachments"]):
            content = JPEG + t["txn_id"].encode() + bytes([i])
            a["sha256"] = hashlib.sha256(content).hexdigest()
            scenario["attachments"][a["attachment_id"]] = {"content": content, "content_type": "image/jpeg"}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
    assert parts.fetcher.fetched == len(clean["attachments"])


def _item(txn: dict, payload_json: bytes) -> bytes:
    text = json.dumps({k: v for k, v in txn.items() if k != "payload"}, ensure_ascii=False).encode()
    return text[:-1] + b', "payload": ' + payload_json + b"}"


def test_an_item_nested_200000_deep_costs_only_its_record(sqlite_internal_url, tmp_path):
    deep = b"[" * 200_000 + b"]" * 200_000
    attack = raw_txn("XXBG", txn_id="RHDEEP000001")
    clean = raw_txn("CBDJ", txn_id="RHFINE000001")
    clean["attachments"] = []  # materials incomplete: held for an operator, but read and decided
    page = feed_page([_item(attack, b'{"changes": ' + deep + b"}"),
                      json.dumps(clean, ensure_ascii=False).encode()])
    with HostilePlatform(page) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    ledger = _ledger(parts)
    assert ledger["RHDEEP000001"]["state"] == "invalid"
    assert any(r["code"] == "too_deep" for r in json.loads(ledger["RHDEEP000001"]["reasons"]))
    assert ledger["RHFINE000001"]["state"] == "conflict"


def test_an_oversized_item_is_not_stored_whole(sqlite_internal_url, tmp_path):
    attack = raw_txn("CBDJ", txn_id="RHHUGE000001", remarks="备" * 400_000)
    page = feed_page([json.dumps(attack, ensure_ascii=False).encode()])
    with HostilePlatform(page) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    with parts.state.connect() as conn:
        raw = conn.execute(select(lt.txn_version.c.raw)).scalar_one()
    assert len(raw) < 1000 and "pb_dropped" in raw
    assert _ledger(parts)["RHHUGE000001"]["state"] == "invalid"


def test_control_characters_do_not_enter(internal_url, tmp_path):
    clean = _clean("RHCTRL000001")
    clean["agent"]["name"] = "李\x00四\x1b[2J\u202e"
    clean["remarks"] = "备注\x07\x1b]0;title\x07"
    scenario = {"seed": 0, "transactions": [clean], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in clean["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    with parts.state.connect() as conn:
        raw = conn.execute(select(lt.txn_version.c.raw)).scalar_one()
        agent = conn.execute(select(lt.txn.c.agent_name)).scalar_one()
    stored = json.loads(raw)
    assert stored["agent"]["name"] == "李四[2J" and agent == "李四[2J"
    assert "\x1b" not in raw and "\\u001b" not in raw and "\\u0000" not in raw


def test_a_transaction_with_hundreds_of_attachments_fetches_none(sqlite_internal_url, tmp_path):
    attack = _clean("RHMANY000001")
    attack["attachments"] = [dict(attack["attachments"][0], attachment_id=f"M{i}") for i in range(200)]
    page = feed_page([json.dumps(attack, ensure_ascii=False).encode()])
    with HostilePlatform(page) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    assert not [p for p in server.asked if "/attachments/" in p]
    ledger = _ledger(parts)
    assert ledger["RHMANY000001"]["state"] == "invalid"
    assert any(r["field"] == "attachments" for r in json.loads(ledger["RHMANY000001"]["reasons"]))


def test_a_declared_hash_of_someone_elses_kept_scan_proves_nothing(sqlite_internal_url, tmp_path):
    """An agent who learnt the hash of another person's ID card scan declares it for an attachment
    of their own: the bridge fetches that attachment rather than take the kept file for it."""
    owner = _clean("RHOWNER00001")
    thief = _clean("RHTHIEF00001")
    thief["person"]["id_number"] = "440524188001010014"
    thief["person"].update(birth_date="1880-01-01", gender="M")
    for a in thief["attachments"]:
        a["attachment_id"] = a["attachment_id"].replace("RHCLEAN", "X")
    scenario = {"seed": 0, "transactions": [owner], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in owner["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
        server.state.put(dict(thief, updated_at=server.state.local_now().strftime("%Y-%m-%d %H:%M:%S")))
        second = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        engine.run(second)
    ledger = _ledger(parts)
    assert ledger["RHOWNER00001"]["state"] == "applied"
    assert ledger["RHTHIEF00001"]["state"] == "conflict"  # its scans were asked for, and are missing
    with parts.state.connect() as conn:
        statuses = {r.attachment_id: r.status for r in conn.execute(select(lt.attachment))}
    assert all(statuses[a["attachment_id"]] == "missing" for a in thief["attachments"])


@pytest.mark.parametrize("version", [2**31, 2**63, 10**30, "99999999999", -1, 0, True, "２"])
def test_a_version_no_column_can_hold_costs_only_its_record(version, internal_url, tmp_path):
    attack = raw_txn("CBDJ", txn_id="RHVERSION001", version=version)
    clean = _clean("RHCLEAN0009")
    scenario = {"seed": 0, "transactions": [attack, clean], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in clean["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    ledger = _ledger(parts)
    assert ledger["RHCLEAN0009"]["state"] == "applied"
    assert [s for t, s in ((t, r["state"]) for t, r in ledger.items()) if t != "RHCLEAN0009"] == ["invalid"]


def test_an_attachment_id_of_another_transaction_serves_lends_and_wipes_nothing(sqlite_internal_url, tmp_path):
    """An agent names, in a transaction of their own, the attachment id of another person's scan
    (ids are sequential, easy to guess), without a hash or with another: their conflict page
    serves nothing of it, their materials gain nothing, and the owner's verified scan stays so."""
    from console.app import Console
    from sync import conflicts

    owner = _clean("RHOWNER00002")
    victim_id = owner["attachments"][0]["attachment_id"]
    thief = raw_txn("CBDJ", txn_id="RHTHIEF00002")
    thief["person"] = dict(thief["person"], id_number="440524188001010014", birth_date="1880-01-01", gender="M")
    thief["attachments"] = [{"attachment_id": victim_id, "kind": "id_card", "size": 10},
                            {"attachment_id": owner["attachments"][1]["attachment_id"], "kind": "household_register",
                             "sha256": hashlib.sha256(b"other bytes").hexdigest(), "size": 10}]
    scenario = {"seed": 0, "transactions": [owner], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in owner["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
        server.state.put(dict(thief, updated_at=server.state.local_now().strftime("%Y-%m-%d %H:%M:%S")))
        engine.run(wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK))
    ledger = _ledger(parts)
    assert ledger["RHOWNER00002"]["state"] == "applied" and ledger["RHTHIEF00002"]["state"] == "conflict"
    with parts.state.connect() as conn:
        kept = {r.attachment_id: (r.status, r.sha256) for r in conn.execute(select(lt.attachment))}
        conflict_id = conn.execute(select(lt.conflict.c.id).where(lt.conflict.c.txn_id == "RHTHIEF00002")).scalar()
    assert kept[victim_id] == ("ok", hashlib.sha256(JPEG).hexdigest())  # not wiped by the thief's claim
    shown = Console(parts, CLOCK)._attachments(conflicts.show(parts.state, conflict_id))
    assert [a["path"] for a in shown] == [None, None] and [a["sha256"] for a in shown] == [None, None]


def test_two_records_naming_one_attachment_id_lend_each_other_nothing(sqlite_internal_url, tmp_path):
    first = _clean("RHFIRST00001")
    second = _clean("RHSECOND0001")
    second["person"] = dict(second["person"], id_number="440524188001010014", birth_date="1880-01-01", gender="M")
    second["attachments"] = [dict(a, sha256=hashlib.sha256(b"not these bytes").hexdigest()) for a in first["attachments"]]
    scenario = {"seed": 0, "transactions": [first, second], "attachments": {
        a["attachment_id"]: {"content": JPEG, "content_type": "image/jpeg"} for a in first["attachments"]}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
    states = {t: r["state"] for t, r in _ledger(parts).items()}
    assert states["RHSECOND0001"] == "conflict"  # its scans are not the first record's
    assert states["RHFIRST00001"] == "applied"  # nor is the second record's failure the first's


def test_an_integer_of_thousands_of_digits_costs_only_its_record(sqlite_internal_url, tmp_path):
    attack = raw_txn("BJ", txn_id="RHBIGINT0001")
    clean = raw_txn("CBDJ", txn_id="RHFINE000002")
    clean["attachments"] = []
    item = json.dumps({k: v for k, v in attack.items() if k != "payload"}, ensure_ascii=False).encode()
    item = item[:-1] + b', "payload": {"years": [' + b"9" * 5000 + b'], "grade": "500.00", "amount": "500.00"}}'
    page = feed_page([item, json.dumps(clean, ensure_ascii=False).encode()])
    with HostilePlatform(page) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    ledger = _ledger(parts)
    assert ledger["RHBIGINT0001"]["state"] == "invalid" and ledger["RHFINE000002"]["state"] == "conflict"


def test_the_collector_spends_no_request_on_records_its_scans_cannot_change():
    from sync.ferry.collector import _may_need_scans
    from sync.process import stage

    many = _clean("RHMANY000002")
    many["attachments"] = [dict(many["attachments"][0], attachment_id=f"M{i}") for i in range(200)]
    withdrawn = dict(_clean("RHWDRAWN0002"), status="withdrawn")
    bad = _clean("RHBADHASH002")
    bad["attachments"][0]["sha256"] = "/etc/passwd"
    assert [_may_need_scans(stage(t)) for t in (many, withdrawn, bad, _clean("RHFINE000003"))] == \
        [False, False, False, True]


def test_a_scan_that_failed_once_is_fetched_again_with_the_next_version(sqlite_internal_url, tmp_path):
    """Issue 23, finding 8: a temporary 40401 used to leave the business 材料不全 for good."""
    txn = _clean("RHRETRY00001")
    with sandbox({"seed": 0, "transactions": [txn], "attachments": {}}) as server:  # the scans not there yet
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
        assert _ledger(parts)["RHRETRY00001"]["state"] == "conflict"
        for a in txn["attachments"]:  # the platform has them now; the agent sends the business again
            server.state.attachments[a["attachment_id"]] = {"content": JPEG, "content_type": "image/jpeg"}
        server.state.put(dict(txn, version=2, remarks="已补传", updated_at=server.state.local_now().strftime(
            "%Y-%m-%d %H:%M:%S")))
        engine.run(wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK))
    assert _ledger(parts)["RHRETRY00001"]["state"] == "applied"


def test_a_version_sent_as_a_string_is_that_version_and_is_written_back(sqlite_internal_url, tmp_path):
    """Issue 23, finding 11: ``"version": "2"`` left the record UNIDENTIFIED and out of the write-back."""
    from sync import nightly

    txn = dict(_clean("RHSTRING0001"), version="2")
    page = feed_page([json.dumps(txn, ensure_ascii=False).encode()])
    with HostilePlatform(page, {a["attachment_id"]: (JPEG, "image/jpeg") for a in txn["attachments"]}) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        nightly.run(parts)
    ledger = _ledger(parts)
    assert ledger["RHSTRING0001"]["state"] == "applied"
    assert [r["version"] for r in server.results] == [2]  # the result answers version 2, as an integer
