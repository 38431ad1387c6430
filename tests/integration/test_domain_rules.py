"""Domain rules end to end (issue 23): the nightly sync writes only what the rules allow,
on SQLite, PostgreSQL and MariaDB (CHAR padding and code reads differ between them)."""

from __future__ import annotations

import json
from datetime import UTC

from sqlalchemy import insert, select

from connectors.internal import schema as it
from connectors.internal.db import engine_for
from sync.ledger import tables as lt
from tests.factories import ID, raw_txn
from tests.integration.sandbox_fixtures import sandbox
from tests.integration.test_sync import rows, run, with_scans

AAC001 = "5301020000000900"
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
STAMP = {"aae011": "柜员甲", "aae036": "20250101100000"}


def _seed(url: str, *, aac008: str = "1", aae160: str | None = None, paid: tuple[int, ...] = (),
          other_scheme: str | None = None, residents: bool = True, aab301: str = "530102001001",
          business: tuple[dict, ...] = ()) -> None:
    """One person as the internal system holds them, typed at the counter earlier."""
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(insert(it.ac01).values(
            aac001=AAC001, aac002=ID, aac003="张三", aac004="1", aac005="01", aac006=19900307, aac009="20",
            aab301=aab301, aae005="13800138000", aae006="五华区某某社区 12 号", **STAMP))
        if residents:
            conn.execute(insert(it.ac02).values(
                aaz159=900, aac001=AAC001, aae140="170", aac008=aac008, aac031="1" if aac008 == "1" else "3",
                aac049=202001, aac066="011", aaz289=3, aae160=aae160, aic301=None if aac008 == "1" else 202401,
                **STAMP))
        if other_scheme:
            conn.execute(insert(it.ac02).values(
                aaz159=901, aac001=AAC001, aae140=other_scheme, aac008="1", aac031="1", aac049=201801,
                aac066="011", aaz289=None, aae160=None, aic301=None, **STAMP))
        for n, year in enumerate(paid):
            ywlsh = f"YW20250101{n:08d}"
            conn.execute(insert(it.ae_ywjl).values(ywlsh=ywlsh, aac001=AAC001, ywlx="12", sjly="1", wblsh=None,
                                                   bgnr=None, aae016="1", aae015=None, aae013=None, qzzt="1", **STAMP))
            conn.execute(insert(it.ac_jfjl).values(jfjl_id=900 + n, aac001=AAC001, aae003=year, aaa115="10",
                                                   aae341="1", aae022=300, ywlsh=ywlsh))
        for row in business:
            conn.execute(insert(it.ae_ywjl).values(**row))
    engine.dispose()


def _ledger(parts, txn_id: str) -> dict:
    return rows(parts.state, lt.txn, txn_id=txn_id)[0]


def _conflict_kind(parts, txn_id: str) -> str | None:
    found = rows(parts.state, lt.conflict, txn_id=txn_id)
    return found[0]["kind"] if found else None


def _enrolment(parts, aae140: str = "170") -> dict:
    with parts.internal.connect() as conn:
        return dict(conn.execute(select(it.ac02).where(it.ac02.c.aac001 == AAC001,
                                                       it.ac02.c.aae140 == aae140)).one()._mapping)


def test_a_grade_change_to_a_grade_not_offered_is_invalid_and_writes_nothing(internal_url, tmp_path):
    _seed(internal_url)
    txn = raw_txn("XXBG")
    txn["payload"]["changes"] = [{"field": "grade", "old": "300.00", "new": "350.00"}]
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    ledger = _ledger(parts, txn["txn_id"])
    assert ledger["state"] == "invalid" and "payload.changes[0].new" in ledger["reasons"]
    assert "unknown_grade" in ledger["reasons"]
    assert _enrolment(parts)["aaz289"] == 3  # never NULL
    assert rows(parts.internal, it.ae_ywjl, ywlx="13") == []


def test_reenrolment_of_a_terminated_person_keeps_the_phone_and_address_not_sent(internal_url, tmp_path):
    _seed(internal_url, aac008="4", aae160="6406")  # emigrated, now back
    txn = raw_txn("CBDJ")
    del txn["person"]["phone"], txn["person"]["address"]
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"applied": 1}
    person = rows(parts.internal, it.ac01)[0]
    assert (person["aae005"], person["aae006"]) == ("13800138000", "五华区某某社区 12 号")
    assert str(_enrolment(parts)["aac008"]).strip() == "1"


def test_someone_in_the_employee_pension_is_held_not_enrolled(internal_url, tmp_path):
    _seed(internal_url, residents=False, other_scheme="110")
    txn = raw_txn("CBDJ")
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"conflict": 1}
    assert _conflict_kind(parts, txn["txn_id"]) == "other_pension_active"
    assert [str(r["aae140"]).strip() for r in rows(parts.internal, it.ac02)] == ["110"]


def test_a_person_terminated_for_death_is_held(internal_url, tmp_path):
    _seed(internal_url, aac008="4", aae160="6401")
    txn = raw_txn("CBDJ")
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert _conflict_kind(parts, txn["txn_id"]) == "deceased"
    assert str(_enrolment(parts)["aac008"]).strip() == "4"


def test_a_grade_change_when_this_year_is_paid_waits_for_next_year(internal_url, tmp_path):
    _seed(internal_url, paid=(2025, 2026))
    txn = raw_txn("XXBG")
    txn["payload"]["changes"] = [{"field": "grade", "old": "300.00", "new": "500.00"}]
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert _conflict_kind(parts, txn["txn_id"]) == "grade_next_year"
    assert _enrolment(parts)["aaz289"] == 3


def test_an_id_number_in_other_digits_is_refused_so_the_person_is_not_created_twice(internal_url, tmp_path):
    _seed(internal_url, aac008="4", aae160="6406")
    txn = raw_txn("CBDJ")
    txn["person"]["id_number"] = ID.translate(ARABIC)
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    ledger = _ledger(parts, txn["txn_id"])
    assert ledger["state"] == "invalid" and "id_format" in ledger["reasons"]
    assert [r["aac002"] for r in rows(parts.internal, it.ac01)] == [ID]


def test_a_counter_address_change_does_not_block_a_platform_phone_change(internal_url, tmp_path):
    typed = {"ywlsh": "YW2026112300000009", "aac001": AAC001, "ywlx": "13", "sjly": "1", "wblsh": None,
             "bgnr": json.dumps([{"field": "address", "old": "旧址", "new": "五华区某某社区 12 号"}], ensure_ascii=False),
             "aae011": "柜员甲", "aae036": "20261123100000", "aae016": "0", "aae015": None, "aae013": None, "qzzt": "0"}
    _seed(internal_url, business=(typed,))
    txn = raw_txn("XXBG")
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"applied": 1}
    assert rows(parts.internal, it.ac01)[0]["aae005"] == "13900139000"
    assert rows(parts.internal, it.ae_ywjl, ywlsh="YW2026112300000009")[0]["wblsh"] is None


def test_phone_forms_are_normalised_and_an_unreadable_one_is_left_out_with_a_note(internal_url, tmp_path):
    landline = raw_txn("CBDJ")
    landline["person"]["phone"] = "0871-65123456"
    other = raw_txn("CBDJ", txn_id="RH53010220261125CB02")
    other["person"] = dict(other["person"], id_number="11010519491231002X", birth_date="1949-12-31", gender="F",
                           phone="6512345")
    with sandbox(with_scans(landline, other)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.tally.by_state == {"applied": 2}
    phones = {r["aac002"]: r["aae005"] for r in rows(parts.internal, it.ac01)}
    assert phones == {ID: "087165123456", "11010519491231002X": None}
    remarks = {r["wblsh"]: r["aae013"] for r in rows(parts.internal, it.ae_ywjl)}
    assert remarks[landline["txn_id"]] is None and "联系电话" in remarks[other["txn_id"]]


def test_region_rules_hold_for_an_operator(internal_url, tmp_path):
    _seed(internal_url, aab301="530103001001")  # the person lives in another county
    back = raw_txn("BJ")
    unlisted = raw_txn("CBDJ", txn_id="RH53010220261125CB03", region_code="530102001999")
    unlisted["person"] = dict(unlisted["person"], id_number="11010519491231002X", birth_date="1949-12-31",
                              gender="F")
    with sandbox(with_scans(back, unlisted)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert _conflict_kind(parts, back["txn_id"]) == "region_mismatch"
    assert _conflict_kind(parts, unlisted["txn_id"]) == "region_unlisted"
    assert rows(parts.internal, it.ac_jfjl) == [] and len(rows(parts.internal, it.ac01)) == 1


def test_status_metrics_read_times_in_asia_shanghai_on_a_utc_host(internal_url, tmp_path, monkeypatch):
    """Finding 13: the ledger keeps naive Asia/Shanghai times; a UTC host must not shift them 8 h."""
    import time
    from datetime import datetime, timedelta

    from sync import status
    from tests.integration.test_sync import CLOCK

    _seed(internal_url, residents=False, other_scheme="110")
    txn = raw_txn("CBDJ")  # held: one open conflict, opened at the night's clock
    with sandbox(with_scans(txn)) as server:
        parts, _ = run(server, internal_url, tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        monkeypatch.setattr(status, "now_local", lambda: CLOCK() + timedelta(hours=2))
        metrics = status.prometheus(parts.state)
    finally:
        monkeypatch.undo()
        time.tzset()
    lines = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if not line.startswith("#"))
    finished = datetime(2026, 11, 25, 18, 0, tzinfo=UTC).timestamp()  # 02:00 in Shanghai
    assert float(lines['pension_bridge_last_run_finished_timestamp_seconds{kind="sync"}']) == finished
    assert lines['pension_bridge_conflicts_open{age_days="lt1"}'] == "1"
    assert sum(int(v) for k, v in lines.items() if k.startswith("pension_bridge_conflicts_open")) == 1


def test_a_region_code_with_letters_is_invalid_and_recorded(internal_url, tmp_path):
    """digits_only keeps what is not a digit, so the code may be longer than 12: still only invalid."""
    txn = raw_txn("CBDJ", region_code="530102001001abcdef")
    with sandbox(with_scans(txn)) as server:
        parts, result = run(server, internal_url, tmp_path)
    assert result.status == "completed" and result.tally.by_state == {"invalid": 1}
    assert "region_format" in _ledger(parts, txn["txn_id"])["reasons"]
    assert rows(parts.internal, it.ac01) == []
