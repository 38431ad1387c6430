"""``pension-bridge verify``: the accounting holds, or the offending records are named."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Engine

from connectors.internal import schema as it
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


def verify(internal: Engine, state: Engine, source: str, limit: int = 50) -> Report:
    report = Report()
    with state.connect() as conn:
        _every_version_has_a_state(conn, report, limit)
        _answered_hints_hold(conn, report, limit)
        report.problems += audit.check(conn)[:limit]
        ledger = {r.txn_id: (r.state, r.ywlsh, r.applied_version) for r in
                  conn.execute(select(t.txn.c.txn_id, t.txn.c.state, t.txn.c.ywlsh, t.txn.c.applied_version))}
    report.checked["transactions"] = len(ledger)
    report.by_state = dict(Counter(v[0] for v in ledger.values()))
    bad_states = [k for k, v in ledger.items() if v[0] not in STATES]
    report.problems += [f"{k}: unknown state {ledger[k][0]!r}" for k in bad_states[:limit]]
    with internal.connect() as conn:
        rows = conn.execute(select(it.ae_ywjl.c.ywlsh, it.ae_ywjl.c.wblsh).where(it.ae_ywjl.c.sjly == source)).all()
        linked = {r.wblsh: r.ywlsh for r in conn.execute(
            select(it.ae_ywjl.c.ywlsh, it.ae_ywjl.c.wblsh).where(it.ae_ywjl.c.sjly != source, it.ae_ywjl.c.wblsh.isnot(None)))}
    report.checked["synced_business_rows"] = len(rows)
    _rows_belong(rows, ledger, report, limit)
    _applied_have_rows(ledger, {r.wblsh: r.ywlsh for r in rows} | linked, report, limit)
    return report


def orphan_versions(limit: int):
    """Transactions with staged versions and no current state in the ledger."""
    v, x = t.txn_version.c, t.txn.c
    return select(v.txn_id).distinct().where(~exists().where(x.txn_id == v.txn_id)).limit(limit)


def _every_version_has_a_state(conn, report: Report, limit: int) -> None:
    # NOT EXISTS, not NOT IN: PostgreSQL hashes a NOT IN list only while it fits in work_mem, and
    # past that ran the subquery once per row — at 300,000 transactions verify ran for minutes
    # on this one query until stopped. NOT EXISTS is an anti-join on every backend.
    orphans = conn.execute(orphan_versions(limit)).scalars().all()
    report.checked["versions"] = conn.execute(select(func.count()).select_from(t.txn_version)).scalar_one()
    report.problems += [f"{o}: versions staged but no current state" for o in orphans]


def unfounded_hints(limit: int):
    """Transactions whose hint says a result went out (``answered_version``, which lets a quiet
    night skip them, ``sync.sweep``) with no result sent or ferried for that version."""
    x, w = t.txn.c, t.writeback.c
    sent = exists().where(w.txn_id == x.txn_id, w.version == x.answered_version, w.status.in_(("sent", "ferried")))
    return select(x.txn_id).where(x.answered_version.isnot(None), ~sent).limit(limit)


def _answered_hints_hold(conn, report: Report, limit: int) -> None:
    report.problems += [f"{o}: marked answered, yet no result was sent for that version"
                        for o in conn.execute(unfounded_hints(limit)).scalars()]


def _rows_belong(rows, ledger, report: Report, limit: int) -> None:
    """Every AE_YWJL written by sync belongs to exactly one transaction that the ledger holds as written."""
    for r in rows:
        entry = ledger.get(r.wblsh)
        if entry is None or entry[2] is None or entry[1] != r.ywlsh:
            report.problems.append(f"{r.ywlsh}: AE_YWJL with SJLY=2 for {r.wblsh} not recorded as applied in the ledger")
            if len(report.problems) >= limit:
                return


def _applied_have_rows(ledger, written: dict[str, str], report: Report, limit: int) -> None:
    for txn_id, (state_, ywlsh, _version) in ledger.items():
        if state_ in WRITTEN and written.get(txn_id) != ywlsh:
            report.problems.append(f"{txn_id}: ledger says {state_} as {ywlsh}, the internal database does not")
            if len(report.problems) >= limit:
                return
