"""connectors.bulk.insert_rows: COPY on PostgreSQL, executemany elsewhere, the same rows and errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.bulk import COPY_FROM, insert_rows
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
