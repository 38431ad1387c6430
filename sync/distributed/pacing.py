"""The platform's rate limit shared by every worker of one app key, on every machine.

A generic cell rate algorithm kept in one row of ``pb_rate``: the row holds the theoretical
arrival time (TAT) of the next request. Each request locks the row, takes its slot
``max(TAT, now)`` and pushes the TAT on by one interval; it then sleeps until its slot, less the
burst tolerance. "Now" is the database's clock, so machines whose clocks disagree still share one
schedule. Together the workers never exceed ``rate`` requests per second beyond ``burst``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import literal_column, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnClause

from sync.ledger import tables as t

NOW = {
    "postgresql": "EXTRACT(EPOCH FROM clock_timestamp())",
    "mysql": "UNIX_TIMESTAMP(NOW(6))",
    "mariadb": "UNIX_TIMESTAMP(NOW(6))",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
PENALTY = 1.0  # seconds every worker waits after any of them was told to slow down (42901)
ATTEMPTS = 5  # a deadlock or lock timeout on the row is retried; the row's state is unchanged by it


class SharedRateLimiter:
    def __init__(self, engine: Engine, key: str, rate: float, burst: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("a shared rate limit needs a positive rate")
        self.engine, self.key, self.rate, self.burst, self._sleep = engine, key[:80], rate, burst, sleep
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._now: ColumnClause[float] = literal_column(NOW[engine.dialect.name])
        self.waited = 0.0
        self._ready = False

    def _ensure_row(self) -> None:
        """Create the key's row in a transaction of its own, before any worker locks it.

        Locking a row that does not exist yet takes a gap lock in InnoDB; two workers holding
        it and both inserting deadlock. With the row in place the lock is on the row alone.
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(t.rate.insert().values(app_key=self.key, tat=0.0))
        except IntegrityError:
            pass  # another worker, or an earlier run, made it
        self._ready = True

    def _take(self) -> float:
        """Reserve the next slot; seconds to wait for it."""
        if not self._ready:
            self._ensure_row()
        r = t.rate.c
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(select(r.tat, self._now.label("now")).where(r.app_key == self.key)
                                       .with_for_update()).first()
                    if row is None:  # deleted under us: make it again
                        self._ready = False
                        raise LookupError
                    now = float(row.now)
                    slot = max(float(row.tat), now)
                    conn.execute(update(t.rate).where(r.app_key == self.key).values(tat=slot + self.interval))
                return slot - self.tolerance - now
            except LookupError:
                self._ensure_row()
            except OperationalError:
                # A deadlock or a lock wait that timed out rolled the transaction back whole.
                if attempt == ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)
        raise RuntimeError(f"rate row {self.key!r} kept vanishing")

    def acquire(self) -> None:
        wait = self._take()
        if wait > 0:
            self.waited += wait
            self._sleep(wait)

    def slow_down(self) -> None:
        """The platform said 42901: everyone sharing the key pauses."""
        r = t.rate.c
        with self.engine.begin() as conn:
            conn.execute(update(t.rate).where(r.app_key == self.key).values(
                tat=literal_column(f"CASE WHEN tat > {NOW[self.engine.dialect.name]} THEN tat ELSE "
                                   f"{NOW[self.engine.dialect.name]} END") + PENALTY))

    def on_success(self) -> None:
        pass
