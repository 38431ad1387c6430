"""The conflict queue as services: list, show, resolve. The CLI and the console call these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.engine import Engine

from config.catalogue import has, text
from sync import scans
from sync.engine import Parts
from sync.ledger import payloads
from sync.ledger import tables as t
from sync.planning.decisions import Decision
from sync.process import stage
from sync.resolutions import Choice, Refused, decider
from sync.scans import ScanOutcome


@dataclass(frozen=True)
class Filters:
    region: str | None = None
    kind: str | None = None
    biz_type: str | None = None
    status: str = "open"
    kinds: frozenset[str] | None = None  # the kinds a role may see
    agent_id: str | None = None  # "mine": the platform agent the user is linked to
    waiting_since: str | None = None  # the platform's created_at at or before this (plain local time)


def readable(token: str) -> str:
    """A field path, change field, attachment kind or business type as people say it."""
    if "|" in token:
        return text("console.or").join(readable(part) for part in token.split("|"))
    for key in (f"field.{token}", f"change_field.{token.rpartition('.')[2]}", f"attachment_kind.{token}",
                f"biz_type.{token}"):
        if has(key):
            return text(key)
    return token


def sentence(kind: str, detail: str | None) -> str:
    """The conflict in one Chinese sentence."""
    key = f"conflict.{kind}"
    if not has(key):
        return kind
    words = "、".join(readable(part) for part in (detail or "").split("、")) if detail else ""
    return text(key, value=words)


def list_conflicts(state: Engine, filters: Filters = Filters(), limit: int = 500) -> list[dict[str, Any]]:
    """Conflicts oldest first, with the business type and the sentence."""
    c, x = t.conflict.c, t.txn.c
    query = (select(c.id, c.txn_id, c.version, c.kind, c.detail, c.region_code, c.agent_id, c.status,
                    c.opened_at, c.updated_at, x.biz_type, x.agent_name)
             .select_from(t.conflict.join(t.txn, c.txn_id == x.txn_id)).order_by(c.opened_at, c.id).limit(limit))
    query = _where(query, filters)
    with state.connect() as conn:
        return [{**r._mapping, "sentence": sentence(r.kind, r.detail)} for r in conn.execute(query)]


def _where(query: Select[Any], filters: Filters) -> Select[Any]:
    c, x = t.conflict.c, t.txn.c
    if filters.status:
        query = query.where(c.status == filters.status)
    if filters.region:
        query = query.where(c.region_code.startswith(filters.region))
    if filters.kind:
        query = query.where(c.kind == filters.kind)
    if filters.kinds is not None:
        query = query.where(c.kind.in_(sorted(filters.kinds)))
    if filters.biz_type:
        query = query.where(x.biz_type == filters.biz_type)
    if filters.agent_id:
        query = query.where(c.agent_id == filters.agent_id)
    if filters.waiting_since:
        query = query.where(x.created_at <= filters.waiting_since)
    return query


def page(state: Engine, filters: Filters, after: tuple[str, int] | None = None, size: int = 50
         ) -> tuple[list[dict[str, Any]], tuple[str, int] | None]:
    """One page of the queue, the resident who waited longest first (the platform's created_at),
    and the key of the next page (None on the last). Keyset, not offset: page 3,000 costs what
    page 1 does, and a conflict resolved meanwhile does not shift the next page.
    """
    c, x, v = t.conflict.c, t.txn.c, t.txn_version.c
    # The resident's name is in the version's payload: joined here (its primary key, 31 rows),
    # not fetched by a second query.
    joined = t.conflict.join(t.txn, c.txn_id == x.txn_id).outerjoin(
        t.txn_version, and_(v.txn_id == c.txn_id, v.version == c.version))
    query = _where(select(c.id, c.txn_id, c.version, c.kind, c.detail, c.region_code, c.agent_id, c.status,
                          c.opened_at, x.biz_type, x.agent_name, x.created_at, x.first_seen_at, v.raw)
                   .select_from(joined), filters)
    if after is not None:
        # ">=" alone is what an index range scan can start from; the OR then skips the ties already shown.
        query = query.where(x.created_at >= after[0],
                            or_(x.created_at > after[0], and_(x.created_at == after[0], c.id > after[1])))
    query = query.order_by(x.created_at, c.id).limit(size + 1)
    with state.connect() as conn:
        found = [dict(r._mapping) for r in conn.execute(query)]
    more = len(found) > size
    found = found[:size]
    for r in found:
        r["sentence"] = sentence(r["kind"], r["detail"])
        r["resident"] = _name(r.pop("raw"), r["txn_id"], r["version"])
    return found, ((found[-1]["created_at"] or "", found[-1]["id"]) if more else None)


def _name(raw: str | None, txn_id: str, version: int) -> str:
    """The resident's name in a version, as the platform sent it ("" when it has none)."""
    if raw is None:
        return ""
    person = (payloads.open_json(raw, txn_id, version) or {}).get("person")
    name = person.get("name") if isinstance(person, dict) else None
    return name if isinstance(name, str) else ""


def counts(state: Engine, filters: Filters, thresholds: tuple[str, ...]) -> tuple[dict[str, int], list[int]]:
    """Open conflicts by kind, and by how long their residents have waited: the number in all, then
    the number created after each threshold (plain local times, newest first). One pass."""
    c, x = t.conflict.c, t.txn.c
    columns = [c.kind, func.count()] + [func.sum(case((x.created_at > limit, 1), else_=0)) for limit in thresholds]
    query = _where(select(*columns).select_from(t.conflict.join(t.txn, c.txn_id == x.txn_id)), filters)
    with state.connect() as conn:
        found = conn.execute(query.group_by(c.kind)).all()
    by_kind = {r[0]: int(r[1]) for r in found}
    return by_kind, [sum(int(r[i] or 0) for r in found) for i in range(1, len(thresholds) + 2)]


class NotFound(LookupError):
    pass


def show(state: Engine, conflict_id: int) -> dict[str, Any]:
    """One conflict with the platform's snapshot, the internal rows, the differing fields and its history."""
    with state.connect() as conn:
        row = conn.execute(select(t.conflict).where(t.conflict.c.id == conflict_id)).first()
        if row is None:
            raise NotFound(conflict_id)
        raw = conn.execute(select(t.txn_version.c.raw).where(t.txn_version.c.txn_id == row.txn_id,
                                                             t.txn_version.c.version == row.version)).scalar_one()
        history = conn.execute(select(t.conflict_event).where(t.conflict_event.c.conflict_id == conflict_id)
                               .order_by(t.conflict_event.c.id)).all()
    out = dict(row._mapping)
    out.update(platform=payloads.open_json(raw, row.txn_id, row.version), fields=json.loads(row.fields or "[]"),
               internal_rows=json.loads(row.internal_rows or "[]"), sentence=sentence(row.kind, row.detail),
               history=[dict(h._mapping) for h in history])
    return out


def _known_scans(state: Engine, raw: dict[str, Any]) -> dict[str, ScanOutcome]:
    """Scan outcomes as recorded; resolving never fetches (it may run on the internal side)."""
    attachments = raw.get("attachments")
    ids = [a["attachment_id"] for a in attachments if isinstance(a, dict) and isinstance(a.get("attachment_id"), str)
           ] if isinstance(attachments, list) else []
    with state.connect() as conn:
        known = {r.attachment_id: (r.status, r.sha256) for r in conn.execute(
            select(t.attachment).where(t.attachment.c.attachment_id.in_(ids)))} if ids else {}
    return scans.recorded(attachments, known)


def resolve(parts: Parts, conflict_id: int, action: str, operator: str, reason: str | None = None,
            ywlsh: str | None = None, fields: tuple[str, ...] = ()) -> Decision:
    """Carry out an operator's choice through the planner, the applier and the ledger, in one transaction.

    Raises:
        NotFound: no such conflict. Refused: not open, or the choice cannot be carried out.
    """
    if not operator.strip():
        raise Refused("resolve.operator_required")
    conflict = show(parts.state, conflict_id)
    if conflict["status"] != "open":
        raise Refused("resolve.not_open", str(conflict_id))
    choice = Choice(action, conflict["kind"], reason, ywlsh, tuple(fields))
    raw = conflict["platform"]
    run_id = f"resolve-{conflict_id}-{parts.clock():%Y%m%d%H%M%S}"
    processor = parts.processor(run_id)
    audit = {"actor": operator.strip()[:60], "resolution": {"action": action, "reason": reason}}
    return processor.process([stage(raw, restaged=True)], _known_scans(parts.state, raw), None, None,
                             audit=audit, decide=decider(choice))[0]


def next_step(kind: str, role: str, value: str = "") -> str:
    """What the person reading the conflict does next, in one sentence: by kind and by role."""
    for key in (f"next_step.{role}.{kind}", f"next_step.{role}.other"):
        if has(key):
            return text(key, value=value)
    return ""
