"""The audit trail: append-only and tamper-evident.

Each entry's hash covers its content and the previous entry's hash, so editing or deleting
any entry breaks every hash after it; ``check`` finds the first break. Appenders take turns
through the one-row head table, updated in the same transaction as the entry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from connectors.bulk import insert_rows
from sync.ledger import tables as t

GENESIS = "0" * 64


def entry_hash(prev: str, at: datetime, actor: str, action: str, subject: str | None, detail: str | None) -> str:
    body = json.dumps([prev, at.isoformat(timespec="seconds"), actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def append(conn: Connection, at: datetime, actor: str, action: str, subject: str | None = None,
           detail: Any = None) -> None:
    """Add one entry in the caller's transaction."""
    at = at.replace(microsecond=0)
    text_detail = detail if isinstance(detail, str) or detail is None else json.dumps(detail, ensure_ascii=False,
                                                                                       default=str)
    # Taking the head's row lock first makes concurrent appenders wait their turn.
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(entries=t.audit_head.c.entries + 1))
    prev = conn.execute(select(t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)).scalar_one()
    digest = entry_hash(prev, at, actor[:60], action, subject, text_detail)
    conn.execute(t.audit.insert().values(at=at, actor=actor[:60], action=action, subject=subject,
                                         detail=text_detail, prev_hash=prev, hash=digest))
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(last_hash=digest))


def append_many(conn: Connection, entries: list[tuple[datetime, str, str, str | None, Any]]) -> None:
    """Add entries (at, actor, action, subject, detail) in order, taking the head's turn once."""
    if not entries:
        return
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(
        entries=t.audit_head.c.entries + len(entries)))
    prev = conn.execute(select(t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)).scalar_one()
    rows = []
    for at, actor, action, subject, detail in entries:
        at = at.replace(microsecond=0)
        text_detail = detail if isinstance(detail, str) or detail is None else json.dumps(
            detail, ensure_ascii=False, default=str)
        digest = entry_hash(prev, at, actor[:60], action, subject, text_detail)
        rows.append({"at": at, "actor": actor[:60], "action": action, "subject": subject, "detail": text_detail,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    insert_rows(conn, t.audit, rows)
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(last_hash=prev))


def check(conn: Connection) -> list[str]:
    """Problems with the chain: an edited entry, a deleted one, or a head that does not match."""
    problems, prev, count = [], GENESIS, 0
    query = select(t.audit).order_by(t.audit.c.id).execution_options(yield_per=2000)
    for row in conn.execute(query):
        count += 1
        if row.prev_hash != prev:
            problems.append(f"audit entry {row.id}: the entry before it was changed or removed")
        if entry_hash(row.prev_hash, row.at, row.actor, row.action, row.subject, row.detail) != row.hash:
            problems.append(f"audit entry {row.id}: its content was changed")
        prev = row.hash
    head = conn.execute(select(t.audit_head)).first()
    if head is not None and (head.last_hash != prev or head.entries != count):
        problems.append("audit trail: entries are missing at its end")
    return problems
