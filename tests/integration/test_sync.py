"""The nightly sync into fresh internal databases, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from bridge import wiring
from connectors.internal import schema as it
from mapping import wire
from sandbox.generator import generate
from sandbox.seed import seed
from sync import engine
from sync.ledger import tables as lt
from sync.locks import LockBusy, run_lock
from sync.verify import verify
from tests.factories import ID, raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings

CLOCK = lambda: datetime(2026, 11, 26, 2, 0, 0)  # noqa: E731 - a fixed night
JPEG = b"\xff\xd8\xff\xe0" + b"scan" * 50


def with_scans(*txns: dict) -> dict:
    attachments = {}
    for txn in txns:
        for a in txn["attachments"]:
            a["attachment_id"] = f"{txn['txn_id']}-{a['attachment_id']}"
            a["sha256"] = hashlib.sha256(JPEG).hexdigest()
            attachments[a["attachment_id"]] = {"content": JPEG, "content_type": "image/jpeg"}
    return {"seed": 0, "transactions": list(txns), "attachments": attachments}


def run(server, url, home, **over):
    parts = wiring.build(settings(server, url, home, **over), clock=CLOCK)
    return parts, engine.run(parts)


def rows(url_engine, table, **where) -> list[dict]:
    query = select(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with url_engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def test_enrolment_writes_exact_rows(internal_url, tmp_path):
    txn = raw_txn("CBDJ")
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.status == "completed" and result.tally.by_state == {"applied": 1}
    person = rows(parts.internal, it.ac01)[0]
    assert person["aac001"] == "5301020000000001" and person["aac002"] == ID and person["aac003"] == "张三"
    assert (person["aac004"], person["aac005"], person["aac009"], person["aac006"]) == ("1", "01", "20", 19900307)
    assert person["aae011"] == "李四(A0017)" and person["aae036"] == "20261126020000"
    relation = rows(parts.internal, it.ac02)[0]
    assert (relation["aae140"], relation["aac008"], relation["aac031"], relation["aac049"], relation["aac066"],
            relation["aaz289"]) == ("170", "1", "1", 202611, "011", 3)
    business = rows(parts.internal, it.ae_ywjl)[0]
    assert (business["ywlsh"], business["ywlx"], business["sjly"], business["wblsh"], business["aae016"],
            business["qzzt"]) == ("YW2026112600000001", "11", "2", txn["txn_id"], "0", "0")
    assert rows(parts.internal, it.ac_yhzh)[0]["aae010"] == "6217000012345678901"
    assert {r["seq_name"]: r["next_val"] for r in rows(parts.internal, it.xt_seq)} == \
        {"AAC001": 2, "AAZ159": 2, "YWLSH": 2, "JFJL": 1}
    assert verify(parts.internal, parts.state, "2").ok


def test_later_businesses_of_the_same_person(internal_url, tmp_path):
    enrol = raw_txn("CBDJ")
    back = raw_txn("BJ", updated_at="2026-11-25 10:00:00")
    change = raw_txn("XXBG", updated_at="2026-11-25 11:00:00")
    transfer = raw_txn("ZYZR", updated_at="2026-11-25 11:30:00")
    transfer["person"] = dict(transfer["person"], id_number="440524188001010014", birth_date="1880-01-01")
    transfer["person"]["id_number"] = "11010519491231002X"
    transfer["person"].update(birth_date="1949-12-31", gender="F")
    cancel = raw_txn("ZXDJ", updated_at="2026-11-25 12:00:00")
    with sandbox(with_scans(enrol, back, change, transfer, cancel)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"applied": 5}, result.tally
    payments = rows(parts.internal, it.ac_jfjl)
    assert sorted(p["aae003"] for p in payments) == [2019, 2020]
    # CHAR(2) comes back blank-padded from PostgreSQL ("1 "): compare as SQL does.
    assert {(p["aaa115"], p["aae341"].rstrip(), str(p["aae022"])) for p in payments} == {("31", "1", "500.00")}
    person = rows(parts.internal, it.ac01, aac002=ID)[0]
    assert person["aae005"] == "13900139000"
    relation = rows(parts.internal, it.ac02, aac001=person["aac001"])[0]
    assert (relation["aac008"], relation["aac031"], relation["aae160"], relation["aic301"]) == ("4", "3", "6401", 202611)
    transferred = rows(parts.internal, it.ac_zyzr)[0]
    assert (transferred["zcdq"], str(transferred["grzhye"]), transferred["jfnx"]) == ("520102", "12345.67", 5)
    logs = rows(parts.internal, it.ae_ywjl)
    assert sorted(r["ywlx"] for r in logs) == ["11", "12", "13", "14", "15"]
    assert '"new": "13900139000"' in next(r["bgnr"] for r in logs if r["ywlx"] == "13")
    assert verify(parts.internal, parts.state, "2").ok


def test_invalid_records_write_nothing_and_keep_reasons(internal_url, tmp_path):
    txn = raw_txn("CBDJ")
    txn["person"]["id_number"] = ID[:17] + ("1" if ID[17] != "1" else "2")
    broken = {"version": 1, "updated_at": "2026-11-25 09:30:00", "region_code": "530102001001"}  # no txn_id
    with sandbox(with_scans(txn)) as server:
        server.state.txns["?"] = broken
        server.state._order.append(("2026-11-25 09:30:00", "?"))
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"invalid": 2}
    assert rows(parts.internal, it.ac01) == [] and rows(parts.internal, it.ae_ywjl) == []
    ledger = rows(parts.state, lt.txn, txn_id=txn["txn_id"])[0]
    assert ledger["state"] == "invalid" and "person.id_number" in ledger["reasons"]
    assert len(rows(parts.state, lt.txn)) == 2


def test_rerun_changes_nothing(internal_url, tmp_path, mocker):
    """… and stages nothing: versions seen before are known by (txn_id, version), unhashed; the
    pages with nothing new commit their position once, at the end, where it was."""
    from sync import checkpoint as cp
    from sync.process import Processor

    scenario = generate(120, seed=5, existing=60)
    seed_engine = wiring.engines(settings_stub(internal_url, tmp_path))[0]
    seed(seed_engine, scenario["internal"])
    with sandbox(scenario) as server:
        parts, first = run(server, internal_url, tmp_path, page_size=20)
        before = snapshot(parts.internal)
        with parts.state.connect() as conn:
            position = cp.read(conn, cp.scope_of(None)).updated_at
        hashed, batches = mocker.spy(wire, "content_hash"), mocker.spy(Processor, "process")
        _, second = run(server, internal_url, tmp_path, page_size=20, feed_overlap=3650 * 86400)  # the whole feed
        with parts.state.connect() as conn:
            assert cp.read(conn, cp.scope_of(None)).updated_at == position
    assert second.tally.pulled == first.tally.pulled and hashed.call_count == 0
    assert batches.call_count == 1 and batches.call_args.args[1] == []
    assert first.tally.new_versions == len(scenario["transactions"]) and second.tally.new_versions == 0
    assert snapshot(parts.internal) == before
    assert sum(first.tally.by_state.values()) == len(scenario["transactions"])
    assert verify(parts.internal, parts.state, "2").ok


def test_the_echoes_of_a_write_back_are_settled_without_reading_the_records(sqlite_internal_url, tmp_path, mocker):
    """The night after a write-back the feed holds every transaction again, status changed only:
    the ledger settles them (planner.settled) without the wire model, validation or the view."""
    from sync import nightly
    from sync.process import Processor

    scenario = generate(60, seed=8, existing=30)
    seed(wiring.engines(settings_stub(sqlite_internal_url, tmp_path))[0], scenario["internal"])
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        nightly.run(parts)
        echoed = len(server.state.results)
        before = snapshot(parts.internal)
        parse = mocker.spy(Processor, "parse")
        scans = mocker.spy(engine, "_scans")
        second = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        result = engine.run(second)
    assert echoed > 30 and result.tally.new_versions >= echoed
    assert parse.call_count == 0
    assert scans.call_count >= 1 and all(call.args[2] == [] for call in scans.call_args_list)  # no scan looked up
    assert result.tally.by_state == {"unchanged": result.tally.new_versions}
    assert snapshot(parts.internal) == before and verify(parts.internal, parts.state, "2").ok


def test_a_brief_echo_is_read_whole_when_the_ledger_moved_meanwhile(sqlite_internal_url, tmp_path, mocker):
    """Settled when the batch was read, not any more when it is planned (an operator put the
    transaction back to pending): the processor parses it after all, and plans it in full."""
    from sync.planning.planner import LedgerEntry
    from sync.process import Processor, stage

    txn = raw_txn(txn_id="T-ECHO", version=3)
    with sandbox() as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
    processor = parts.processor("r")
    staged = stage({**txn, "version": 4, "status": "accepted"})
    settled_entry = LedgerEntry(version=3, state="applied", content_hash=staged.content_hash)
    assert processor.brief(staged, {"T-ECHO": settled_entry}) is not None
    mocker.patch("sync.process.entries", side_effect=[{"T-ECHO": settled_entry}, {}, {}])
    parse = mocker.spy(Processor, "parse")
    processor.process([staged], {}, None, None)
    assert parse.call_count == 1

    # As the engine calls it: ledger read first, scans fetched for non-echoes only; the echo
    # that moved has its scans fetched before it is parsed.
    later = stage({**txn, "txn_id": "T-ECHO2", "version": 5, "status": "accepted"})
    known = {"T-ECHO2": LedgerEntry(version=4, state="applied", content_hash=later.content_hash)}
    assert processor.settles(later, known)
    mocker.patch("sync.process.entries", side_effect=[{}, {}])
    more_scans = mocker.Mock(return_value={})
    processor.process([later], {}, None, None, known=known, more_scans=more_scans)
    more_scans.assert_called_once_with([later])
    assert parse.call_count == 2


def test_interrupted_run_resumes_to_the_same_end(internal_url, tmp_path, mocker, backend):
    scenario = generate(150, seed=11, existing=60)
    reference = reference_run(scenario, tmp_path)
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], scenario["internal"])
    real = engine.Processor.process
    calls = {"n": 0}

    def crash_after_two(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed at a batch boundary")
        return real(self, *a, **kw)

    with sandbox(scenario) as server:
        mocker.patch.object(engine.Processor, "process", crash_after_two)
        with pytest.raises(KeyboardInterrupt):
            run(server, internal_url, tmp_path / "home", page_size=20)
        mocker.stopall()
        parts, resumed = run(server, internal_url, tmp_path / "home", page_size=20)
    assert snapshot(parts.internal) == reference
    assert verify(parts.internal, parts.state, "2").ok


@pytest.mark.parametrize("apart", [False, True], ids=["one database", "two databases"])
def test_verify_fails_on_a_corrupted_ledger(sqlite_internal_url, tmp_path, apart):
    """One database: joins; two: a page of keys at a time. Both name the same records."""
    txn = raw_txn("CBDJ")
    over = {"state_db": f"sqlite:///{tmp_path / 'state.db'}"} if apart else {}
    with sandbox(with_scans(txn)) as server:
        parts, _ = run(server, sqlite_internal_url, tmp_path, **over)
    assert (parts.internal is parts.state) is not apart
    assert verify(parts.internal, parts.state, "2").ok
    with parts.state.begin() as conn:
        conn.execute(update(lt.txn).values(ywlsh="YW000", state="applied"))
    report = verify(parts.internal, parts.state, "2")
    assert not report.ok and any(txn["txn_id"] in p for p in report.problems)
    assert any(p.startswith("YW") and "not recorded as applied" in p for p in report.problems)
    with parts.state.begin() as conn:
        conn.execute(lt.txn.delete())
    assert any("no current state" in p for p in verify(parts.internal, parts.state, "2").problems)


def test_second_run_of_the_same_region_is_refused(internal_url, tmp_path):
    txn = raw_txn("CBDJ")
    with sandbox(with_scans(txn)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        with run_lock(parts.state, tmp_path, "feed:5301"):
            with pytest.raises(LockBusy):
                engine.run(parts)
            other = engine.run(wiring.build(settings(server, internal_url, tmp_path, regions="5302"), clock=CLOCK))
    assert other.status == "completed"


# --- helpers -------------------------------------------------------------------------

def settings_stub(url, home):
    from bridge.settings import Settings
    return Settings(platform_url="http://127.0.0.1:1/open/v1", app_key="k", app_secret="s", internal_db=url, home=home)


def _plain(value):
    """Values as comparable across dialects: money to cents, CHAR padding dropped."""
    if isinstance(value, (float, Decimal)):
        return f"{Decimal(str(value)):.2f}"
    return value.rstrip() if isinstance(value, str) else value


def snapshot(db) -> dict[str, list]:
    with db.connect() as conn:
        return {name: sorted((tuple(map(_plain, r)) for r in conn.execute(select(it.TABLES[name]))), key=repr)
                for name in ("ac01", "ac02", "ac_yhzh", "ae_ywjl", "ac_jfjl", "ac_zyzr", "xt_seq")}


def reference_run(scenario, tmp_path) -> dict:
    from connectors.internal.db import engine_for
    from connectors.internal.schema import create_contract_schema
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    create_contract_schema(engine_for(url))
    seed(engine_for(url), scenario["internal"])
    with sandbox(scenario) as server:
        parts, _ = run(server, url, tmp_path / "ref-home")
    return snapshot(parts.internal)


def test_crash_between_internal_and_state_commit_neither_loses_nor_doubles(sqlite_internal_url, tmp_path, mocker):
    enrol, back = raw_txn("CBDJ"), raw_txn("BJ", updated_at="2026-11-25 10:00:00")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    real = engine.Processor._ledger
    with sandbox(with_scans(enrol, back)) as server:
        mocker.patch.object(engine.Processor, "_ledger", side_effect=KeyboardInterrupt("killed between commits"))
        with pytest.raises(KeyboardInterrupt):
            run(server, sqlite_internal_url, tmp_path, state_db=state_url)
        mocker.patch.object(engine.Processor, "_ledger", real)
        parts, result = run(server, sqlite_internal_url, tmp_path, state_db=state_url)
    assert not parts.same_db
    assert result.tally.by_state == {"applied": 2}
    assert len(rows(parts.internal, it.ae_ywjl)) == 2 and len(rows(parts.internal, it.ac_jfjl)) == 2
    assert {r["ywlsh"] for r in rows(parts.state, lt.txn)} == {r["ywlsh"] for r in rows(parts.internal, it.ae_ywjl)}
    assert verify(parts.internal, parts.state, "2").ok


def test_two_versions_of_one_transaction_in_one_page_are_both_accounted(internal_url, tmp_path, mocker):
    """The contract shows each transaction once, as its current snapshot; a platform that shows
    an older version beside the newer in one page must not stop the feed at that page: the
    versions go through one after the other, and the position is committed after the last."""
    import copy

    from connectors.platform import feed

    scenario = generate(30, seed=3, existing=15)
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], scenario["internal"])
    real, doubled = feed.pages, []

    def pages_with_an_older_twin(*args, **kwargs):
        for page in real(*args, **kwargs):
            if not doubled:
                newer = copy.deepcopy(page.items[0])
                newer.update(version=newer["version"] + 1, status="submitted")
                page.items.insert(1, newer)  # v2 right after v1, in the same page
                doubled.append(newer["txn_id"])
            yield page

    mocker.patch.object(engine, "pages", pages_with_an_older_twin)
    with sandbox(scenario) as server:
        parts, result = run(server, internal_url, tmp_path, page_size=10)
    assert result.status == "completed" and result.problems == []
    staged = {(r["txn_id"], r["version"]) for r in rows(parts.state, lt.txn_version)}
    txn = rows(parts.state, lt.txn, txn_id=doubled[0])[0]
    assert {(doubled[0], txn["version"] - 1), (doubled[0], txn["version"])} <= staged
    assert len(rows(parts.state, lt.txn)) == len({t["txn_id"] for t in scenario["transactions"]})
    assert verify(parts.internal, parts.state, "2").ok
