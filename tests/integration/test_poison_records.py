"""One record the internal database cannot hold never stops a night (issue 23, findings 1 and 2).

On PostgreSQL and MariaDB (strict mode) a value longer than its column fails the whole
transaction; SQLite keeps it. Each poison record ends invalid with a reason an operator can
read, is written back as rejected, and every other record of the batch is applied, the
checkpoint moves and the next night moves on.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge import wiring
from connectors.internal import schema as it
from mapping import idcard
from sync import checkpoint as cp
from sync import fits, nightly
from sync.ledger import tables as lt
from sync.verify import verify
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK, with_scans


def person_txn(n: int, biz: str = "CBDJ", **over) -> dict:
    """A clean enrolment of person ``n``, entered at minute ``n``."""
    txn = raw_txn(biz, **{"txn_id": f"RH5301022026112580{n:02d}", "updated_at": f"2026-11-25 10:{n:02d}:00", **over})
    txn["person"] = dict(txn["person"], id_number=idcard.make(f"53010219900307{n:03d}"))
    txn["person"].pop("gender")
    return txn


def ledger(parts) -> dict[str, dict]:
    with parts.state.connect() as conn:
        return {r.txn_id: dict(r._mapping) for r in conn.execute(select(lt.txn))}


def position(parts) -> object:
    with parts.state.connect() as conn:
        return cp.read(conn, cp.scope_of("5301")).updated_at


def poison_feed() -> tuple[list[dict], set[str]]:
    clean = [person_txn(n) for n in (1, 3, 5, 6)]
    long_code = person_txn(2)
    long_code["payload"]["bank_account"]["bank_code"] = "102100099996"  # a 12-digit CNAPS code
    long_holder = person_txn(4)
    long_holder["payload"]["bank_account"]["holder_name"] = "张" * 54
    return clean + [long_code, long_holder], {long_code["txn_id"], long_holder["txn_id"]}


def test_values_longer_than_their_columns_are_invalid_records_not_a_stopped_night(internal_url, tmp_path):
    txns, poison = poison_feed()
    with sandbox(with_scans(*txns)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path, page_size=100), clock=CLOCK)
        result = nightly.run(parts)
        results = {r["txn_id"]: r for r in server.state.results}
    assert result.status == "completed", result.problems
    states = ledger(parts)
    assert {k: v["state"] for k, v in states.items()} == {t["txn_id"]: "invalid" if t["txn_id"] in poison
                                                          else "applied" for t in txns}
    reasons = {k: [p["message"] for p in json.loads(states[k]["reasons"])] for k in poison}
    assert reasons == {txns[4]["txn_id"]: ["内部数据库无法保存：银行代码超过 10 位"],
                       txns[5]["txn_id"]: ["内部数据库无法保存：账户户名超过 50 位"]}
    assert position(parts) is not None and str(position(parts)) >= "2026-11-25 10:06:00"
    # Written back: the poison as rejected with that reason, the clean ones accepted.
    assert {k: r["outcome"] for k, r in results.items()} == {t["txn_id"]: "rejected" if t["txn_id"] in poison
                                                             else "accepted" for t in txns}
    assert "银行代码超过 10 位" in results[txns[4]["txn_id"]]["reason"]
    with parts.internal.connect() as conn:
        assert conn.execute(select(it.ac_yhzh.c.aae008)).scalars().all() == ["102"] * 4
    assert verify(parts.internal, parts.state, "2").ok


def test_a_value_the_check_misses_is_found_by_the_database_and_isolated(internal_url, backend, tmp_path, mocker):
    """Without the limits check (a column it does not know), PostgreSQL and MariaDB raise
    DataError for the batch: the record is found by writing the batch one record at a time
    under savepoints, planned invalid, and the batch goes in without it."""
    if backend == "sqlite":
        pytest.skip("SQLite keeps values longer than their column")
    mocker.patch.object(fits, "problems", return_value=())
    txns, poison = poison_feed()
    with sandbox(with_scans(*txns)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path, page_size=100), clock=CLOCK)
        result = nightly.run(parts)
        outcomes = {r["txn_id"]: r["outcome"] for r in server.state.results}
        first = position(parts)
        # Night two: one more clean enrolment moves the checkpoint on; the poison is not retried.
        later = (max(server.state.local_now(), first) + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        scenario = with_scans(person_txn(7, updated_at=later))
        server.state.attachments.update(scenario["attachments"])
        server.state.put(scenario["transactions"][0], lag=0)
        again = nightly.run(parts)
    assert result.status == "completed" and again.status == "completed", (result.problems, again.problems)
    states = ledger(parts)
    assert {k for k, v in states.items() if v["state"] == "invalid"} == poison
    assert {k for k, v in states.items() if v["state"] == "applied"} == {t["txn_id"] for t in txns} - poison | \
        {person_txn(7)["txn_id"]}
    for k in poison:
        assert json.loads(states[k]["reasons"])[0]["code"] == "db_refused"
        assert outcomes[k] == "rejected"
    assert str(position(parts)) > str(first) and again.tally.by_state.get("applied") == 1
    with parts.internal.connect() as conn:
        assert len(conn.execute(select(it.ae_ywjl.c.ywlsh)).all()) == 5
    assert verify(parts.internal, parts.state, "2").ok


def test_a_record_built_on_a_poison_one_is_not_blamed_for_it(internal_url, backend, tmp_path, mocker):
    """A back-payment of a person whose enrolment, earlier in the batch, cannot be written: the
    enrolment is the one refused; the back-payment is planned again without it (and waits for
    the person as any back-payment of someone not enrolled does)."""
    if backend == "sqlite":
        pytest.skip("SQLite keeps values longer than their column")
    mocker.patch.object(fits, "problems", return_value=())
    enrol = person_txn(2)
    enrol["payload"]["bank_account"]["holder_name"] = "张" * 54
    back = person_txn(8, "BJ")
    back["person"] = dict(enrol["person"])
    clean = person_txn(3)
    with sandbox(with_scans(enrol, back, clean)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = nightly.run(parts)
    states = {k: v["state"] for k, v in ledger(parts).items()}
    assert result.status == "completed", result.problems
    assert states == {enrol["txn_id"]: "invalid", back["txn_id"]: "conflict", clean["txn_id"]: "applied"}
    assert verify(parts.internal, parts.state, "2").ok
