"""Which ledger rows a night's seal and write-back read: all of them, or the few that can owe
something since the last night that finished.

Every night the seal looks for approved business without a seal, and the write-back for results
not yet sent. Read in full, that is a scan of the whole ledger: most of it answered long ago, or
waiting for review inside with its "accepted" sent. At a million ledger rows it cost 4.6 s of a
night with nothing new (the write-back's query) and 1.0 s (the seal's); planning the few rows
such a night can owe takes 0.01 s. So a night reads only the rows that can have changed since the last night
whose seal and write-back finished (its *window*):

- rows no result went out for since their latest version but one (``answered_version``, kept by
  the write-back in the transaction that records a result as sent; a partial index finds them);
- rows with a result still ``sending`` or ``failed``, or a seal that ``failed``;
- rows whose business inside was reviewed since the window began (``AAE015``, the review time,
  read back ``review_lookback`` further for late commits and clocks that differ).

What the window cannot see — a review time written wrong or far in the past, a result sent by
another path that left no hint — is found by the full sweep, which reads everything as before:
on the first night, after ``full_every`` has passed since the last one, and whenever the window
holds more rows than a full read costs. The candidates only narrow what is read; what a row owes
is decided by the same queries either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from connectors.internal import schema as it
from connectors.internal.reader import chunk_size, chunks, within
from mapping.codes import code
from sync import checkpoint
from sync.ledger import tables as t

WINDOW, FULL = "sweep:window", "sweep:full"
MOST = 50_000
"""Candidates beyond which a night reads the ledger in full: a set of keys in memory costs
more than the full query's pages by then (a first night, or a night after a long stop)."""


@dataclass(frozen=True)
class Sweep:
    """What tonight's seal and write-back read: ``txn_ids`` only, or everything (None)."""

    started: datetime
    txn_ids: frozenset[str] | None
    reason: str
    since: datetime | None = None  # the window's start (review times from ``since - lookback``)

    @property
    def full(self) -> bool:
        return self.txn_ids is None

    def summary(self) -> dict[str, Any]:
        return {"full": self.full, "reason": self.reason, "candidates": None if self.txn_ids is None else len(self.txn_ids),
                "since": f"{self.since:%Y-%m-%d %H:%M:%S}" if self.since else None}


def plan(parts: Any, full_every: timedelta | None, lookback: timedelta, most: int = MOST) -> Sweep:
    """Tonight's sweep. ``full_every`` None: every night in full (the window is never trusted)."""
    started = parts.clock()
    with parts.state.connect() as conn:
        window = checkpoint.read(conn, WINDOW).updated_at
        full = checkpoint.read(conn, FULL).updated_at
    if full_every is None:
        return Sweep(started, None, "always_full")
    if window is None or full is None:
        return Sweep(started, None, "first")
    if started - full >= full_every:
        return Sweep(started, None, "due")
    found = candidates(parts, window - lookback, most)
    if found is None:
        return Sweep(started, None, "many", window)
    return Sweep(started, frozenset(found), "window", window)


def candidates(parts: Any, reviewed_since: datetime, most: int = MOST) -> set[str] | None:
    """txn_ids that can owe a seal or a result; None once there are more than ``most``."""
    x, w, s = t.txn.c, t.writeback.c, t.seal.c
    found: set[str] = set()
    with parts.state.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Each query is a partial index's own predicate. The planner, multiplying the
            # selectivities of state and hint as if independent, chose a scan of the whole
            # ledger over the index (0.33 s for no row at a million; the index: 2 ms).
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for query in (select(x.txn_id).where(t.unanswered()),
                      select(w.txn_id).where(w.status.in_(("sending", "failed"))),
                      select(s.txn_id).where(s.status == "failed")):
            found.update(r[0] for r in conn.execute(query.limit(most + 1)))
            if len(found) > most:
                return None
    reviewed = _reviewed(parts, reviewed_since, most)
    if reviewed is None:
        return None
    with parts.state.connect() as conn:
        for part in chunks(reviewed, chunk_size(conn)):
            found.update(r[0] for r in conn.execute(select(x.txn_id).where(within(conn, x.ywlsh, part))))
    return None if len(found) > most else found


def _reviewed(parts: Any, since: datetime, most: int) -> list[str] | None:
    """YWLSH of the bridge's business (written or linked) reviewed inside since ``since``."""
    y = it.ae_ywjl.c
    query = (select(y.ywlsh).where(y.wblsh.isnot(None), y.aae016 != code("review", "pending"), y.aae015 >= f"{since:%Y%m%d%H%M%S}")
             .limit(most + 1))
    with parts.internal.connect() as conn:
        found = [r[0] for r in conn.execute(query)]
    return None if len(found) > most else found


def record(parts: Any, sweep: Sweep) -> None:
    """After a night whose seal and write-back finished: the next window starts where this one
    did (a row changed during the night is read again), and a full sweep is remembered."""
    now = parts.clock()
    with parts.state.begin() as conn:
        checkpoint.write(conn, WINDOW, checkpoint.Checkpoint(updated_at=sweep.started), now)
        if sweep.full:
            checkpoint.write(conn, FULL, checkpoint.Checkpoint(updated_at=sweep.started), now)
