"""``pension-bridge verify``: the accounting holds, or the offending records are named."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine

from connectors.internal import schema as it
from connectors.internal.reader import chunks, within
from sync import audit
from sync.ledger import tables as t

STATES = frozenset({"pending", "applied", "linked", "withdrawn", "invalid", "conflict", "rejected"})
WRITTEN = ("applied", "linked")


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    by_state: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


PAGE = 5000


def verify(internal: Engine, state: Engine, source: str, limit: int = 50, heads: Path | None = None,
           signer: Any = None) -> Report:
    """Both directions between the ledger and ``AE_YWJL``, a page of keys at a time: memory stays
    flat however long the ledger (holding it whole took 708 MB at a million transactions).

    ``heads`` and ``signer``: the signed audit heads (``$BRIDGE_HOME/audit/heads.jsonl``) and the
    seal key's verifier; the chain must still hold the latest head the seal key signed
    (``checked["audit_signed_entries"]``: how many entries that head covers, 0 without one)."""
    report = Report()
    signed, head_problems, other_keys = (audit.latest_head(heads, signer) if heads is not None and signer is not None
                                         else (None, [], 0))
    report.checked["audit_signed_entries"] = int(signed["entries"]) if signed else 0
    report.checked["audit_heads_other_keys"] = other_keys
    with state.connect() as conn:
        _every_version_has_a_state(conn, report, limit)
        _answered_hints_hold(conn, report, limit)
        report.problems += (head_problems + audit.check(conn, signed))[:limit]
    if internal is state:  # one database: two anti-joins, the server's work
        _joined(state, source, report, limit)
    else:
        _ledger_matches_inside(internal, state, report, limit)
        _inside_matches_ledger(internal, state, source, report, limit)
    return report


def _joined(engine: Engine, source: str, report: Report, limit: int) -> None:
    """Both directions as joins where ledger and internal tables share a database (20 s a page
    of keys at a time at a million transactions; joined, a few)."""
    x, y = t.txn.c, it.ae_ywjl.c
    with engine.connect() as conn:
        states: dict[str, int] = dict(conn.execute(select(x.state, func.count()).group_by(x.state)).all())
        report.by_state, report.checked["transactions"] = states, sum(states.values())
        report.problems += [f"{k}: unknown state {k!r}" for k in states if k not in STATES][:limit]
        unwritten = (select(x.txn_id, x.state, x.ywlsh).select_from(t.txn.outerjoin(it.ae_ywjl, y.wblsh == x.txn_id))
                     .where(x.state.in_(WRITTEN), or_(y.ywlsh.is_(None), x.ywlsh.is_(None), y.ywlsh != x.ywlsh))
                     .order_by(x.txn_id).limit(limit))
        report.problems += [f"{r.txn_id}: ledger says {r.state} as {r.ywlsh}, the internal database does not"
                            for r in conn.execute(unwritten)][:max(0, limit - len(report.problems))]
        report.checked["synced_business_rows"] = conn.execute(
            select(func.count()).select_from(it.ae_ywjl).where(y.sjly == source)).scalar_one()
        strays = (select(y.ywlsh, y.wblsh).select_from(it.ae_ywjl.outerjoin(t.txn, x.txn_id == y.wblsh))
                  .where(y.sjly == source, or_(x.txn_id.is_(None), x.applied_version.is_(None), x.ywlsh.is_(None),
                                               x.ywlsh != y.ywlsh))
                  .order_by(y.ywlsh).limit(limit))
        report.problems += [f"{r.ywlsh}: AE_YWJL with SJLY=2 for {r.wblsh} not recorded as applied in the ledger"
                            for r in conn.execute(strays)][:max(0, limit - len(report.problems))]


def _pages(engine: Engine, query: Select[*tuple[Any, ...]]) -> Iterator[list[Any]]:
    with engine.connect() as conn:
        yield from chunks(conn.execution_options(stream_results=True, yield_per=PAGE).execute(query), PAGE)


def _ledger_matches_inside(internal: Engine, state: Engine, report: Report, limit: int) -> None:
    """Every state is known; every transaction held as written has its AE_YWJL row (by WBLSH)."""
    x, y = t.txn.c, it.ae_ywjl.c
    states: Counter[str] = Counter()
    for page in _pages(state, select(x.txn_id, x.state, x.ywlsh).order_by(x.txn_id)):
        states.update(r.state for r in page)
        report.problems += [f"{r.txn_id}: unknown state {r.state!r}" for r in page
                            if r.state not in STATES][:max(0, limit - len(report.problems))]
        written = [r for r in page if r.state in WRITTEN]
        if not written:
            continue
        with internal.connect() as conn:
            inside = dict(conn.execute(select(y.wblsh, y.ywlsh).where(within(conn, y.wblsh, [r.txn_id for r in written]))).all())
        report.problems += [f"{r.txn_id}: ledger says {r.state} as {r.ywlsh}, the internal database does not"
                            for r in written if inside.get(r.txn_id) != r.ywlsh][:max(0, limit - len(report.problems))]
    report.checked["transactions"] = sum(states.values())
    report.by_state = dict(states)


def _inside_matches_ledger(internal: Engine, state: Engine, source: str, report: Report, limit: int) -> None:
    """Every AE_YWJL written by sync belongs to one transaction the ledger holds as written."""
    x, y = t.txn.c, it.ae_ywjl.c
    count = 0
    for page in _pages(internal, select(y.ywlsh, y.wblsh).where(y.sjly == source).order_by(y.ywlsh)):
        count += len(page)
        with state.connect() as conn:
            ledger = {r.txn_id: r for r in conn.execute(select(x.txn_id, x.ywlsh, x.applied_version).where(
                within(conn, x.txn_id, [r.wblsh for r in page if r.wblsh is not None])))}
        for r in page:
            entry = ledger.get(r.wblsh)
            if (entry is None or entry.applied_version is None or entry.ywlsh != r.ywlsh) and len(report.problems) < limit:
                report.problems.append(f"{r.ywlsh}: AE_YWJL with SJLY=2 for {r.wblsh} not recorded as applied in the ledger")
    report.checked["synced_business_rows"] = count


def orphan_versions(limit: int) -> Select[str]:
    """Transactions with staged versions and no current state in the ledger."""
    v, x = t.txn_version.c, t.txn.c
    return select(v.txn_id).distinct().where(~exists().where(x.txn_id == v.txn_id)).limit(limit)


def _every_version_has_a_state(conn: Connection, report: Report, limit: int) -> None:
    # NOT EXISTS, not NOT IN: PostgreSQL hashes a NOT IN list only while it fits in work_mem, and
    # past that ran the subquery once per row — at 300,000 transactions verify ran for minutes
    # on this one query until stopped. NOT EXISTS is an anti-join on every backend.
    orphans = conn.execute(orphan_versions(limit)).scalars().all()
    report.checked["versions"] = conn.execute(select(func.count()).select_from(t.txn_version)).scalar_one()
    report.problems += [f"{o}: versions staged but no current state" for o in orphans]


def unfounded_hints(limit: int) -> Select[str]:
    """Transactions whose hint says a result went out (``answered_version``, which lets a quiet
    night skip them, ``sync.sweep``) with no result sent or ferried for that version."""
    x, w = t.txn.c, t.writeback.c
    sent = exists().where(w.txn_id == x.txn_id, w.version == x.answered_version, w.status.in_(("sent", "ferried")))
    return select(x.txn_id).where(x.answered_version.isnot(None), ~sent).limit(limit)


def _answered_hints_hold(conn: Connection, report: Report, limit: int) -> None:
    report.problems += [f"{o}: marked answered, yet no result was sent for that version"
                        for o in conn.execute(unfounded_hints(limit)).scalars()]
