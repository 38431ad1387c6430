"""Retention: a transaction's scans and raw payloads go ``BRIDGE_RETENTION_DAYS`` after it is done.

Done means final and owing nothing:

- withdrawn (never answered); or applied, linked, rejected or invalid with a final result
  (``completed``, ``rejected``) for its latest version that the platform confirmed (``sent``, not
  only ferried), at least the retention before now;
- no open conflict, no result still waiting or failed, no seal that failed, and a ``completed``
  result only where the seal was made.

Then its scans are deleted (a scan another transaction still needs is kept: the store is
content-addressed), each raw payload is replaced by its hash and the few fields the reports and
``verify`` still read, and the purge is an entry in the audit trail, in the same database
transaction. The ledger's rows (state, hashes, ``AE_YWJL`` link, results, seals) stay: ``verify``
and the reports read those, not the payloads. Audit entries are never purged here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select, update
from sqlalchemy.engine import Engine

from connectors.internal.reader import chunks, within
from sync import atrest, audit
from sync.ledger import payloads
from sync.ledger import tables as t
from sync.scans import ScanStore, is_sha256

FINAL = ("completed", "rejected")
ANSWERED_STATES = ("applied", "linked", "rejected", "invalid")
KEPT_FIELDS = ("txn_id", "version", "biz_type", "status", "created_at", "updated_at", "region_code")
BATCH = 200


@dataclass
class Due:
    """A transaction whose personal data has reached the end of its retention."""

    txn_id: str
    state: str
    final_at: datetime
    versions: list[int] = field(default_factory=list)
    scans: set[str] = field(default_factory=set)         # SHA-256 of the scans only it needs
    attachments: set[str] = field(default_factory=set)


@dataclass
class Purged:
    transactions: int = 0
    payloads: int = 0
    scans: int = 0


def due_query(now: datetime, days: int) -> Select[str, str, datetime]:
    """The transactions done and owing nothing since before ``now - days``, not yet purged (or
    with a version received since their purge)."""
    cutoff = now - timedelta(days=days)
    x, w, c, s, v = t.txn.c, t.writeback.c, t.conflict.c, t.seal.c, t.txn_version.c
    answered = exists().where(w.txn_id == x.txn_id, w.status == "sent", w.outcome.in_(FINAL),
                              w.version + 1 >= x.version, w.sent_at <= cutoff)
    final = or_(x.state == "withdrawn", and_(x.state.in_(ANSWERED_STATES), answered))
    owed_result = exists().where(w.txn_id == x.txn_id, w.status.notin_(("sent", "superseded")))
    open_conflict = exists().where(c.txn_id == x.txn_id, c.status == "open")
    seal_failed = exists().where(s.txn_id == x.txn_id, s.status != "sealed")
    completed = exists().where(w.txn_id == x.txn_id, w.status == "sent", w.outcome == "completed")
    sealed = exists().where(s.txn_id == x.txn_id, s.status == "sealed")
    unpurged = or_(x.purged_at.is_(None), exists().where(v.txn_id == x.txn_id, v.received_at > x.purged_at))
    return (select(x.txn_id, x.state, x.state_at)
            .where(final, x.state_at <= cutoff, unpurged, ~open_conflict, ~owed_result, ~seal_failed,
                   or_(~completed, sealed))
            .order_by(x.txn_id))


def due(state: Engine, now: datetime, days: int, limit: int | None = None) -> list[Due]:
    """What a purge at ``now`` would take, with the versions and scans of each."""
    query = due_query(now, days)
    if limit is not None:
        query = query.limit(limit)
    with state.connect() as conn:
        found = [Due(r.txn_id, r.state, r.state_at) for r in conn.execute(query)]
    for part in [found[i:i + BATCH] for i in range(0, len(found), BATCH)]:
        _describe(state, part)
    return found


def _describe(state: Engine, part: list[Due]) -> None:
    """Each transaction's versions, attachments and the scans no one else needs."""
    v, a = t.txn_version.c, t.attachment.c
    by_id = {d.txn_id: d for d in part}
    with state.connect() as conn:
        for r in conn.execute(select(v.txn_id, v.version, v.raw).where(within(conn, v.txn_id, list(by_id)))):
            d = by_id[r.txn_id]
            d.versions.append(r.version)
            try:
                body = payloads.open_json(r.raw, r.txn_id, r.version)
            except (atrest.NotOpened, ValueError):
                continue  # not openable here: its payload is still replaced, its scans found by others
            items = body.get("attachments") if isinstance(body, dict) else None
            d.attachments.update(x["attachment_id"] for x in items or []
                                 if isinstance(x, dict) and isinstance(x.get("attachment_id"), str))
        ids = {aid: d for d in part for aid in d.attachments}
        shas: dict[str, set[str]] = {}
        for chunk in chunks(list(ids)):
            for kept in conn.execute(select(a.attachment_id, a.sha256).where(within(conn, a.attachment_id, chunk))):
                if is_sha256(kept.sha256):
                    shas.setdefault(kept.sha256, set()).add(kept.attachment_id)
        # A scan is deleted only when every attachment kept under it is being purged or was.
        for chunk in chunks(list(shas)):
            for other in conn.execute(select(a.attachment_id, a.sha256).where(within(conn, a.sha256, chunk),
                                                                                a.status != "purged")):
                if other.attachment_id not in ids:
                    shas.pop(other.sha256, None)
    for sha, owners in shas.items():
        for aid in owners:
            ids[aid].scans.add(sha)


def _purged_payload(clear: str, txn_id: str, version: int, now: datetime) -> str:
    """What is kept of a payload: its hash and the fields that say what it was, no one's data."""
    try:
        body = json.loads(clear)
    except ValueError:
        body = {}
    kept = {k: body.get(k) for k in KEPT_FIELDS} if isinstance(body, dict) else {}
    kept.update(txn_id=txn_id, version=version, sha256=hashlib.sha256(clear.encode("utf-8")).hexdigest(),
                purged_at=now.replace(microsecond=0).isoformat())
    return json.dumps({payloads.PURGED: kept}, ensure_ascii=False, sort_keys=True)


def purge(state: Engine, store: ScanStore, now: datetime, days: int, actor: str = "pension-bridge") -> Purged:
    """Purge everything due, a batch of transactions per database transaction, each batch with
    its audit entry; the scan files after their batch commits (a crash between leaves files a
    next purge no longer names: ``store.delete`` on what ``pb_attachment`` marks purged)."""
    done, seen = Purged(), set[str]()
    while True:
        part = [d for d in due(state, now, days, BATCH) if d.txn_id not in seen]
        if not part:  # nothing left, or only what this call purged (a version stamped after ``now``)
            return done
        seen.update(d.txn_id for d in part)
        v, a, x = t.txn_version.c, t.attachment.c, t.txn.c
        with state.begin() as conn:
            # The same rule, read again inside the transaction: what became owed since is left.
            still = {r.txn_id for r in conn.execute(due_query(now, days).where(
                within(conn, x.txn_id, [d.txn_id for d in part])))}
            part = [d for d in part if d.txn_id in still]
            payload_count = 0
            for d in part:
                for r in conn.execute(select(v.version, v.raw).where(v.txn_id == d.txn_id)):
                    try:
                        clear = payloads.open_raw(r.raw, d.txn_id, r.version)
                        if payloads.is_purged(json.loads(clear)):
                            continue
                    except (atrest.NotOpened, ValueError):
                        clear = r.raw  # cannot be opened here: only its stored form's hash is kept
                    conn.execute(update(t.txn_version).where(v.txn_id == d.txn_id, v.version == r.version).values(
                        raw=payloads.seal_raw(_purged_payload(clear, d.txn_id, r.version, now), d.txn_id,
                                              r.version)))
                    payload_count += 1
                if d.attachments:
                    conn.execute(update(t.attachment).where(within(conn, a.attachment_id, sorted(d.attachments)))
                                 .values(status="purged"))
                conn.execute(update(t.txn).where(x.txn_id == d.txn_id).values(purged_at=now))
            scans = sorted({sha for d in part for sha in d.scans})
            if part:
                audit.append(conn, now, actor, "purge", None, {
                    "retention_days": days, "transactions": [d.txn_id for d in part], "payloads": payload_count,
                    "scans": len(scans)})
        done.transactions += len(part)
        done.payloads += payload_count
        done.scans += sum(1 for sha in scans if store.delete(sha))
        if not part:  # everything named became owed meanwhile: the next read finds the rest
            return done


def summary(items: list[Due]) -> dict[str, Any]:
    return {"transactions": len(items), "payloads": sum(len(d.versions) for d in items),
            "scans": len({s for d in items for s in d.scans})}
