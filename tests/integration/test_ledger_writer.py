"""The ledger writer buffers a batch's new conflicts and their history; what lands is the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from connectors.internal.db import engine_for
from sync.ledger import tables as t
from sync.ledger.migrate import upgrade
from sync.ledger.store import LedgerWriter
from sync.planning.decisions import Hold, Rejected
from sync.planning.planner import LedgerEntry

NOW = datetime(2026, 11, 27, 9, 30)


def facts(txn_id: str, version: int) -> dict:
    return {"txn_id": txn_id, "version": version, "updated_at": "2026-11-27 09:00:00", "status": "submitted",
            "content_hash": f"{version}" * 64, "core_hash": None, "biz_type": "XXBG", "region_code": "530102001001",
            "agent_id": "A1", "agent_name": "代办员", "id_number": None, "created_at": "2026-11-27 08:00:00"}


def test_conflicts_of_a_batch_land_with_their_history(internal_url):
    engine = engine_for(internal_url)
    upgrade(engine)
    with engine.begin() as conn:
        writer = LedgerWriter(conn, "run-1", NOW, {})
        for i in range(12):  # enough for COPY on PostgreSQL
            writer.record(facts(f"T{i:02d}", 1), Hold("stale_change", "第一版"), None, None)
        writer.flush()
    held = {f"T{i:02d}": LedgerEntry("conflict", 1) for i in range(12)}
    with engine.begin() as conn:  # the next batch: two of them again, and a new one
        writer = LedgerWriter(conn, "run-2", NOW, held)
        writer.record(facts("T03", 2), Hold("stale_change", "第二版"), held["T03"], None)
        writer.record(facts("T20", 1), Hold("stale_change", "新的"), None, None)
        writer.record(facts("T05", 2), Rejected("材料不全"), held["T05"], None)
        writer.flush()
    with engine.connect() as conn:
        found = {r.txn_id: r for r in conn.execute(select(t.conflict))}
        history: dict[int, list[str]] = {}
        for e in conn.execute(select(t.conflict_event).order_by(t.conflict_event.c.id)):
            history.setdefault(e.conflict_id, []).append(e.action)
    assert len(found) == 13  # one conflict per transaction, never two
    assert (found["T03"].version, found["T03"].detail, found["T03"].status) == (2, "第二版", "open")
    assert found["T05"].status == "resolved" and found["T20"].status == "open"
    assert history[found["T00"].id] == ["opened"] and history[found["T20"].id] == ["opened"]
    assert history[found["T03"].id] == ["opened", "updated"]
    assert history[found["T05"].id] == ["opened", "superseded"]
