"""Fresh planner statistics for the ledger: after a night that wrote, and while a run doubles it.

PostgreSQL's autovacuum and MariaDB's persistent statistics catch up with a table some time
after it grew — or never, where autovacuum is off; a report or a write-back run right after the
night's sync would otherwise be planned from the estimates of an empty table (seen: 12 s
instead of 2 for 20,000 rows). A province's first run grows the ledger from nothing to a
million rows in one night: planned from the empty table's estimates, every batch read the
whole of ``pb_txn_version`` to find its known versions (1,751 sequential scans, 765 million
rows read, at 866,500 rows; the run slowed from 500 to 373 transactions a second). ``Growth``
refreshes them whenever a table has doubled since they were taken: about log2(N / 5,000)
times in a first run, never in a night that adds a little to a large ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.ledger import tables as t

log = structlog.get_logger(__name__)

# The ledger's tables that runs, reports and the console query, by key or by more.
QUERIED = (t.txn, t.txn_version, t.writeback, t.seal, t.conflict, t.attachment, t.txn_event)


def refresh(engine: Engine, tables: Sequence[Table] = QUERIED) -> None:
    """``ANALYZE`` the tables; a failure is logged, never raised."""
    names = [table.name for table in tables]
    try:
        with engine.begin() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execute(text(f"ANALYZE {', '.join(names)}"))
            elif dialect in ("mysql", "mariadb"):
                conn.execute(text(f"ANALYZE TABLE {', '.join(names)}")).fetchall()
            elif dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA optimize")
    except SQLAlchemyError as err:  # statistics are an optimisation: the night's work stands
        log.warning("statistics_not_refreshed", error=str(err).splitlines()[0][:200])


# autovacuum's defaults (autovacuum_vacuum_threshold / _scale_factor, and their insert twins)
DEAD_BASE, DEAD_SHARE, INSERTED_BASE, INSERTED_SHARE = 50, 0.2, 1000, 0.2


def tidy(engine: Engine, tables: Sequence[Table] = QUERIED) -> list[str]:
    """After a night that wrote: fresh statistics, and where PostgreSQL's autovacuum is off (on
    the server, or for a table), ``VACUUM`` of the tables autovacuum itself would have vacuumed
    by now, by its default thresholds.

    Without it the dead index entries of every row the night updated stay: a quiet night's
    sweep then spent 1.1 s of database time on a million of them before finding nothing.
    Returns the tables vacuumed; a failure is logged, never raised.
    """
    names = [table.name for table in tables]
    if engine.dialect.name != "postgresql":
        refresh(engine, tables)
        return []
    try:
        with engine.connect() as conn:
            due = [row.relname for row in conn.execute(text(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
                "WHERE s.schemaname = current_schema() AND s.relname = ANY(:names) "
                "AND (current_setting('autovacuum') = 'off' "
                "     OR 'autovacuum_enabled=false' = ANY(coalesce(c.reloptions, '{}'))) "
                "AND (s.n_dead_tup > :dead + :dead_share * greatest(c.reltuples, 0) "
                "     OR s.n_ins_since_vacuum > :ins + :ins_share * greatest(c.reltuples, 0)) "
                "ORDER BY s.relname"),
                {"names": names, "dead": DEAD_BASE, "dead_share": DEAD_SHARE, "ins": INSERTED_BASE,
                 "ins_share": INSERTED_SHARE})]
        if due:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(due)}")  # not inside a transaction
            log.info("ledger_vacuumed", tables=due, why="autovacuum is off for them")
    except SQLAlchemyError as err:  # upkeep is an optimisation: the night's work stands
        log.warning("ledger_not_vacuumed", error=str(err).splitlines()[0][:200])
        due = []
    rest = [table for table in tables if table.name not in due]
    if rest:
        refresh(engine, rest)
    return due


class Growth:
    """Refreshes statistics whenever ``counted`` has doubled since they were taken.

    ``grew(n)`` after every commit that added about ``n`` rows. It counts the table only once
    ``first`` rows were added since the last count, so a quiet night costs nothing. The rows
    that were there before the run are taken as counted in the statistics it found.
    """

    def __init__(self, engine: Engine, counted: Table, refresh: Callable[[], None], first: int = 5000) -> None:
        self.engine, self.counted, self._refresh, self.first = engine, counted, refresh, first
        self.added = 0
        self._next = first
        self._base: int | None = None  # the table's rows when its statistics were taken

    def grew(self, n: int) -> None:
        self.added += n
        if self.added < self._next:
            return
        try:
            with self.engine.connect() as conn:
                total = conn.execute(select(func.count()).select_from(self.counted)).scalar() or 0
        except SQLAlchemyError as err:
            log.warning("statistics_not_refreshed", error=str(err).splitlines()[0][:200])
            self._next = self.added + self.first
            return
        if self._base is None:
            self._base = max(0, total - self.added)
        if total >= 2 * self._base:
            log.info("statistics_refresh", table=self.counted.name, rows=total, since=self._base)
            self._refresh()
            self._base = total
        self._next = self.added + max(self.first, 2 * self._base - total)
