"""A unit of work over the internal database and the bridge's state database.

Every write that touches both sides goes through one::

    with UnitOfWork(internal, state, one_database) as uow:
        Applier(uow.internal, source).apply(work)
        LedgerWriter(uow.state, ...).flush()
        uow.commit()

Leaving the block without ``commit()`` rolls both sides back. When the ledger lives in the
internal database, ``uow.state`` is ``uow.internal``: one connection, one transaction, and the
rows and their ledger entries commit together. When they are separate, the internal side
commits first: a crash before the state commit leaves rows whose WBLSH the planner recognises
next run (``AlreadyApplied``), never a ledger entry for rows that are not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy.engine import Connection, Engine, RootTransaction

from sync import faultpoints


class UnitOfWork:
    """Both databases as one transaction, as far as two databases can be: see the module docstring.

    Args:
        internal: the internal database.
        state: the bridge's state database (the same engine when ``one_database``).
        one_database: the ledger lives in the internal database.
        between: a fault point (``sync.faultpoints``) passed between the two commits, when separate.
    """

    def __init__(self, internal: Engine, state: Engine, one_database: bool, between: str | None = None) -> None:
        self._engines = (internal, state)
        self.one_database = one_database
        self._between = between
        self._connections: list[Connection] = []
        self._transactions: list[RootTransaction] = []
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        internal, state = self._engines
        try:
            self.internal = self._open(internal)
            self.state = self.internal if self.one_database else self._open(state)
        except BaseException:  # the state database refused: the internal side's connection goes back
            self.__exit__(None, None, None)
            raise
        return self

    def _open(self, engine: Engine) -> Connection:
        conn = engine.connect()
        self._connections.append(conn)
        self._transactions.append(conn.begin())
        return conn

    def commit(self) -> None:
        """Commit the internal side, then the state side."""
        inside, *ledger = self._transactions
        inside.commit()
        if ledger:
            if self._between:
                faultpoints.reached(self._between)
            ledger[0].commit()
        self.committed = True

    def rollback(self) -> None:
        """Roll back whatever is not committed yet, the state side first."""
        for transaction in reversed(self._transactions):
            if transaction.is_active:
                transaction.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint on both sides: what fails inside the block is undone on both, the rest stays."""
        with self.internal.begin_nested():
            if self.one_database:
                yield
                return
            with self.state.begin_nested():
                yield

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self.rollback()
        finally:
            for conn in reversed(self._connections):
                conn.close()
