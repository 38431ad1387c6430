"""Reading and writing the ledger: staged versions, current states, history, conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from connectors.bulk import insert_rows, update_rows
from connectors.internal.reader import chunks, within
from sync import audit
from sync.ledger import payloads
from sync.ledger import tables as t
from sync.planning.decisions import (
    AlreadyApplied,
    Apply,
    Decision,
    Hold,
    Invalid,
    Rejected,
    Unchanged,
)
from sync.planning.planner import LedgerEntry


def seen_versions(conn: Connection, txn_ids: Iterable[str]) -> set[tuple[str, int]]:
    """(txn_id, version) pairs already staged, for the given transactions."""
    seen: set[tuple[str, int]] = set()
    for part in chunks(set(txn_ids)):
        query = select(t.txn_version.c.txn_id, t.txn_version.c.version).where(within(conn, t.txn_version.c.txn_id, part))
        seen.update((r[0], r[1]) for r in conn.execute(query))
    return seen


def entries(conn: Connection, txn_ids: Iterable[str]) -> dict[str, LedgerEntry]:
    out: dict[str, LedgerEntry] = {}
    c = t.txn.c
    for part in chunks(set(txn_ids)):
        query = (select(c.txn_id, c.state, c.version, c.applied_hash, c.core_hash, c.ywlsh, c.content_hash)
                 .where(within(conn, c.txn_id, part)))
        for r in conn.execute(query):
            out[r.txn_id] = LedgerEntry(r.state, r.version, r.applied_hash, r.core_hash, r.ywlsh, r.content_hash)
    return out


def _attachment_facts(conn: Connection, attachment_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """attachment id -> (status, hash) as recorded."""
    a, out = t.attachment.c, {}
    for part in chunks(set(attachment_ids)):
        out.update({r.attachment_id: (r.status, r.sha256) for r in conn.execute(
            select(a.attachment_id, a.status, a.sha256).where(within(conn, a.attachment_id, part)))})
    return out


def verified_scans(conn: Connection, attachment_ids: Iterable[str]) -> dict[str, str]:
    """attachment id -> the hash its bytes were verified to have, for the attachments whose scan
    the bridge fetched and checked (status ``ok``)."""
    return {aid: sha for aid, (status, sha) in _attachment_facts(conn, attachment_ids).items()
            if status == "ok" and sha}


def fitted(table: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every text cut to its column's length in ``table``: what the ledger keeps
    of a record (its agent, type, region …) describes it, and one longer than the column must
    not fail the batch it comes in (PostgreSQL and MariaDB refuse it for the whole transaction)."""
    out = dict(values)
    for name, value in values.items():
        column = table.c.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if length and isinstance(value, str) and len(value) > length:
            out[name] = value[:length]
    return out


def record_attachments(conn: Connection, outcomes: Iterable[Any], now: datetime) -> None:
    """What each attachment turned out to be; only what changed (its status, or the hash it was
    checked against) is written again."""
    rows = [{"attachment_id": o.attachment_id, "sha256": o.sha256, "status": o.status, "kind": o.kind,
             "content_type": o.content_type, "size": o.size, "checked_at": now} for o in outcomes]
    existing = _attachment_facts(conn, [r["attachment_id"] for r in rows])
    new = [r for r in rows if r["attachment_id"] not in existing]
    if new:
        insert_rows(conn, t.attachment, new)
    for row in rows:  # a scan fetched after it was missing, or bytes the agent replaced and the bridge verified
        before = existing.get(row["attachment_id"], (row["status"], row["sha256"]))
        if before[0] == "ok" and row["status"] != "ok":
            # What was verified stays so: a later failure (or a claim of the same id by another
            # transaction) decides that record's materials, not what was served for this id.
            continue
        if before != (row["status"], row["sha256"]):
            conn.execute(update(t.attachment).where(t.attachment.c.attachment_id == row["attachment_id"]).values(row))


def open_conflicts(conn: Connection, txn_ids: Iterable[str]) -> dict[str, int]:
    """txn_id -> id of its open conflict, for transactions the ledger holds in conflict."""
    c = t.conflict.c
    out: dict[str, int] = {}
    for part in chunks(set(txn_ids)):
        out.update({r.txn_id: r.id for r in conn.execute(select(c.txn_id, c.id).where(within(conn, c.txn_id, part),
                                                                                       c.status == "open"))})
    return out


def reasons_of(decision: Decision) -> tuple[str | None, str | None]:
    """``reason_kind`` and ``reasons`` (JSON) for the ledger row."""
    if isinstance(decision, Invalid):
        return "invalid", json.dumps([p.as_dict() for p in decision.problems], ensure_ascii=False)
    if isinstance(decision, Rejected):
        return "rejected", json.dumps({"reason": decision.reason}, ensure_ascii=False)
    if isinstance(decision, Hold):
        return decision.kind, json.dumps({"detail": decision.detail, "fields": list(decision.fields)},
                                         ensure_ascii=False, default=str)
    return None, None


_TXN_COLUMNS = {c.name: None for c in t.txn.c}


class LedgerWriter:
    """Writes one batch's ledger rows in the caller's transaction."""

    def __init__(self, conn: Connection, run_id: str, now: datetime, ledger: dict[str, LedgerEntry],
                 actor: str = "pension-bridge", resolution: dict[str, Any] | None = None) -> None:
        self.conn, self.run_id, self.now = conn, run_id, now
        self.actor, self.resolution = actor, resolution  # resolution: {"action", "reason"} of an operator
        self._open = open_conflicts(conn, [k for k, e in ledger.items() if e.state == "conflict"])
        # New ledger rows and events go in one executemany each (``flush``), not one statement per row.
        self._new_txns: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._touched: list[dict[str, Any]] = []
        # New conflicts and every conflict's history wait too: two statements per conflict had
        # been 1.8 s of a 20,000-transaction sync's CPU (py-spy --gil).
        # An event of a conflict not yet inserted names its transaction until the flush.
        self._new_conflicts: dict[str, dict[str, Any]] = {}  # txn_id -> row
        self._conflict_events: list[dict[str, Any]] = []

    def flush(self) -> None:
        """Write what is buffered; the caller does before its transaction commits."""
        self._flush_conflicts()
        if self._new_txns:
            insert_rows(self.conn, t.txn, self._new_txns)
            self._new_txns = []
        if self._events:
            insert_rows(self.conn, t.txn_event, self._events)
            self._events = []
        if self._touched:  # the night's echoes: one statement, not one each
            update_rows(self.conn, t.txn, "txn_id", self._touched, where=lambda v: [t.txn.c.version < v["version"]])
            self._touched = []

    def stage(self, rows: list[dict[str, Any]]) -> None:
        """New versions; each payload as ``payloads.seal_raw`` keeps it (encrypted under the data key)."""
        if rows:
            insert_rows(self.conn, t.txn_version, [
                {**r, "raw": payloads.seal_raw(r["raw"], r["txn_id"], r["version"]), "received_at": self.now,
                 "run_id": self.run_id} for r in rows])

    def attachments(self, outcomes: Iterable[Any]) -> None:
        record_attachments(self.conn, outcomes, self.now)

    def record(self, facts: dict[str, Any], decision: Decision, before: LedgerEntry | None, ywlsh: str | None) -> None:
        """Set the transaction's one current state from ``decision``."""
        if isinstance(decision, Unchanged):
            self._touch(facts, before)
            return
        kind, reasons = reasons_of(decision)
        facts = fitted(t.txn, facts)
        values = {**facts, "state": decision.state, "reason_kind": kind, "reasons": reasons, "state_at": self.now}
        if isinstance(decision, (Apply, AlreadyApplied)):
            values.update(ywlsh=ywlsh or (before.ywlsh if before else None), applied_version=facts["version"],
                          applied_hash=facts["content_hash"], core_hash=facts["core_hash"])
        if not isinstance(decision, (Apply, AlreadyApplied)):
            values.pop("core_hash", None)
        self._upsert(values, before)
        self._event(facts, before.state if before else None, decision.state, kind)
        self._conflict(facts, decision)

    def _touch(self, facts: dict[str, Any], before: LedgerEntry | None) -> None:
        facts = fitted(t.txn, facts)
        if before is not None and facts["version"] > before.version:
            self._touched.append({"txn_id": facts["txn_id"], "version": facts["version"],
                                  "updated_at": facts["updated_at"], "status": facts["status"]})

    def _upsert(self, values: dict[str, Any], before: LedgerEntry | None) -> None:
        if before is None:
            self._new_txns.append({**_TXN_COLUMNS, **values, "first_seen_at": self.now})
        else:
            self.conn.execute(update(t.txn).where(t.txn.c.txn_id == values["txn_id"]).values(**values))

    def _event(self, facts: dict[str, Any], before: str | None, after: str, detail: str | None) -> None:
        self._events.append({"txn_id": facts["txn_id"], "version": facts["version"], "from_state": before,
                             "to_state": after, "detail": detail, "run_id": self.run_id, "at": self.now,
                             "actor": self.actor})

    def _flush_conflicts(self) -> None:
        c = t.conflict.c
        if self._new_conflicts:
            insert_rows(self.conn, t.conflict, list(self._new_conflicts.values()))
            for part in chunks(list(self._new_conflicts)):
                self._open.update({r.txn_id: r.id for r in self.conn.execute(
                    select(c.txn_id, c.id).where(within(self.conn, c.txn_id, part), c.status == "open"))})
            self._new_conflicts = {}
        if self._conflict_events:
            insert_rows(self.conn, t.conflict_event, [self._identified(e) for e in self._conflict_events])
            self._conflict_events = []

    def _identified(self, event: dict[str, Any]) -> dict[str, Any]:
        if "txn_id" not in event:
            return event
        row = {k: v for k, v in event.items() if k != "txn_id"}
        row["conflict_id"] = self._open[event["txn_id"]]
        return row

    def _conflict(self, facts: dict[str, Any], decision: Decision) -> None:
        """One open conflict per transaction: updated by later versions, closed when settled."""
        c = t.conflict.c
        open_id = self._open.get(facts["txn_id"])
        if not isinstance(decision, Hold):
            if open_id is not None:
                self._close(open_id)
            return
        values = {"version": facts["version"], "kind": decision.kind, "detail": decision.detail,
                  "fields": json.dumps(list(decision.fields), ensure_ascii=False, default=str),
                  "internal_rows": json.dumps(list(decision.rows), ensure_ascii=False, default=str),
                  "region_code": facts["region_code"], "agent_id": facts["agent_id"], "updated_at": self.now}
        if open_id is None:
            self._new_conflicts[facts["txn_id"]] = {"txn_id": facts["txn_id"], "status": "open", "opened_at": self.now,
                                                    **values}
            self._conflict_events.append({"txn_id": facts["txn_id"], **self._event_row("opened", None, decision.kind)})
        else:
            self.conn.execute(update(t.conflict).where(c.id == open_id).values(**values))
            self._history(open_id, "updated", None, f"version {facts['version']}: {decision.kind}")

    def _close(self, conflict_id: int) -> None:
        action = (self.resolution or {}).get("action", "superseded")
        reason = (self.resolution or {}).get("reason")
        self.conn.execute(update(t.conflict).where(t.conflict.c.id == conflict_id).values(
            status="resolved", resolution=action, resolved_by=self.actor, resolved_at=self.now, updated_at=self.now))
        self._history(conflict_id, action, reason, None)
        if self.resolution is not None:
            audit.append(self.conn, self.now, self.actor, f"resolve:{action}", str(conflict_id), {"reason": reason})

    def _history(self, conflict_id: int, action: str, reason: str | None, detail: str | None) -> None:
        self._conflict_events.append({"conflict_id": conflict_id, **self._event_row(action, reason, detail)})

    def _event_row(self, action: str, reason: str | None, detail: str | None) -> dict[str, Any]:
        return {"at": self.now, "actor": self.actor, "action": action, "reason": reason, "detail": detail}
