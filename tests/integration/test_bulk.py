"""connectors.bulk: COPY and UPDATE … FROM unnest on PostgreSQL, executemany elsewhere; the same rows and errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.bulk import COPY_FROM, insert_rows, update_rows
from connectors.internal.db import engine_for
from sync.ledger import tables as t
from sync.ledger.migrate import upgrade


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"txn_id": f"T{i:05d}", "version": 1, "updated_at": "2026-11-27 09:00:00", "status": None,
             "content_hash": "c" * 64, "raw": '{"name": "张三\\t\\\\ 李四\\n"}', "outcome": "applied",
             "received_at": datetime(2026, 11, 27, 9, 30, 5), "run_id": "r"} for i in range(start, start + n)]


@pytest.mark.parametrize("n", [COPY_FROM - 1, 3 * COPY_FROM])
def test_rows_arrive_as_given(internal_url, n):
    engine = engine_for(internal_url)
    upgrade(engine)
    given = rows(n)
    with engine.begin() as conn:
        insert_rows(conn, t.txn_version, given)
    with engine.connect() as conn:
        got = [dict(r._mapping) for r in conn.execute(select(t.txn_version).order_by(t.txn_version.c.txn_id))]
    assert [{k: r[k] for k in given[0]} for r in got] == given


def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_nothing_stays(internal_url):
    engine = engine_for(internal_url)
    upgrade(engine)
    with engine.begin() as conn:
        insert_rows(conn, t.txn_version, rows(2 * COPY_FROM))
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            insert_rows(conn, t.txn_version, rows(2 * COPY_FROM, start=COPY_FROM))
    with engine.connect() as conn:
        assert len(conn.execute(select(t.txn_version.c.txn_id)).all()) == 2 * COPY_FROM


def test_rows_of_different_shapes_still_go_in(internal_url):
    """A row without an optional column: one executemany, the column left to its default."""
    engine = engine_for(internal_url)
    upgrade(engine)
    given = rows(2 * COPY_FROM)
    for row in given[::2]:
        del row["status"]
    with engine.begin() as conn:
        insert_rows(conn, t.txn_version, given)
    with engine.connect() as conn:
        statuses = conn.execute(select(t.txn_version.c.status)).scalars().all()
    assert len(statuses) == 2 * COPY_FROM and set(statuses) == {None}


@pytest.mark.parametrize("n", [COPY_FROM - 1, 3 * COPY_FROM])
def test_rows_change_by_key_as_given(internal_url, n):
    """Every other column set by default; a computed value, a constant and an extra condition."""
    engine = engine_for(internal_url)
    upgrade(engine)
    with engine.begin() as conn:
        insert_rows(conn, t.txn_version, rows(n + 2))
        assert update_rows(conn, t.txn_version, "txn_id", [
            {"txn_id": f"T{i:05d}", "outcome": "linked", "status": "withdrawn" if i % 2 else None,
             "received_at": datetime(2026, 11, 28, 1, 2, i), "raw": '{"名": "\\"引号\\" \\\\"}'} for i in range(n)]) == n
        v = t.txn_version.c
        changed = update_rows(conn, t.txn_version, "txn_id", [
            {"txn_id": f"T{i:05d}", "version": 3 if i % 3 else 0} for i in range(n + 2)],
            values=lambda new: {"version": v.version + new["version"], "run_id": "again"},
            where=lambda new: [new["version"] > 0])
    with engine.connect() as conn:
        got = {r.txn_id: r for r in conn.execute(select(t.txn_version))}
    assert changed == len([i for i in range(n + 2) if i % 3])
    for i in range(n + 2):
        row = got[f"T{i:05d}"]
        assert row.outcome == ("linked" if i < n else "applied")
        assert row.status == ("withdrawn" if i < n and i % 2 else None)
        assert (row.version, row.run_id) == ((4, "again") if i % 3 else (1, "r"))
        assert row.received_at == (datetime(2026, 11, 28, 1, 2, i) if i < n else datetime(2026, 11, 27, 9, 30, 5))
        assert row.raw == ('{"名": "\\"引号\\" \\\\"}' if i < n else rows(1)[0]["raw"])


def test_a_key_given_twice_takes_its_values_in_order(internal_url):
    """Not one statement then (which row of the source would win is undefined): the last wins."""
    engine = engine_for(internal_url)
    upgrade(engine)
    with engine.begin() as conn:
        insert_rows(conn, t.txn_version, rows(2))
        update_rows(conn, t.txn_version, "txn_id", [{"txn_id": "T00000", "run_id": str(k)} for k in range(2 * COPY_FROM)])
    with engine.connect() as conn:
        assert conn.execute(select(t.txn_version.c.run_id).where(t.txn_version.c.txn_id == "T00000")).scalar() == str(
            2 * COPY_FROM - 1)
