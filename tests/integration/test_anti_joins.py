"""Questions of the form "rows without a partner" are anti-joins, whatever work_mem holds.

PostgreSQL hashes a NOT IN (subquery) only while the list fits in work_mem; past that it runs the
subquery once per row. At 300,000 transactions `verify` ran for minutes on one such query.
"""

from __future__ import annotations

from sqlalchemy import create_engine, select, text

from sync.ledger import tables as t
from sync.sealing.service import _unsealed_where
from sync.verify import orphan_versions
from tests.conftest import _fresh_url


def test_orphan_versions_and_unsealed_business_are_planned_as_anti_joins(tmp_path):
    for url in _fresh_url("postgresql", tmp_path):  # skipped, or failed on CI, without PostgreSQL
        engine = create_engine(url)
        t.metadata.create_all(engine)
        queries = {"orphan versions": orphan_versions(50),
                   "unsealed business": select(t.txn.c.txn_id).where(*_unsealed_where())}
        with engine.connect() as conn:
            conn.execute(text("SET work_mem = '64kB'"))
            for name, query in queries.items():
                compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
                plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
                assert "Anti Join" in plan and "SubPlan" not in plan, f"{name}:\n{plan}"
        engine.dispose()


def test_a_quiet_nights_candidates_are_read_by_their_partial_indexes(tmp_path):
    """The rows no result went out for, the results to retry and the seals that failed: each a
    partial index the night's query can use (its predicate implied by the query's), so a quiet
    night reads a few index entries however long the ledger."""
    x, w, s = t.txn.c, t.writeback.c, t.seal.c
    queries = {"ix_pb_txn_unanswered": select(x.txn_id).where(t.unanswered()),
               "ix_pb_writeback_retried": select(w.txn_id).where(w.status.in_(("sending", "failed"))),
               "ix_pb_seal_failed": select(s.txn_id).where(s.status == "failed")}
    for url in _fresh_url("postgresql", tmp_path):  # skipped, or failed on CI, without PostgreSQL
        engine = create_engine(url)
        t.metadata.create_all(engine)
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            for index, query in queries.items():
                compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
                plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
                assert index in plan, f"{index}:\n{plan}"
        engine.dispose()
