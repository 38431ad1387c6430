"""Run locks per region scope, so two runs never work the same region at once.

The lock is the database's own where it has one (PostgreSQL advisory locks, MariaDB
``GET_LOCK``), held by a dedicated connection and released by the server if the process
dies; with SQLite, which serves one machine, it is an ``flock`` on a file under
``BRIDGE_HOME``. Locks are per scope (a region prefix), never one global lock, so runs of
different regions proceed in parallel.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


class LockBusy(Exception):
    """Another run holds the lock of this scope."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


def _key(scope: str) -> int:
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def run_lock(engine: Engine, home: Path, scope: str, wait: bool = False, poll: float = 1.0) -> Iterator[None]:
    """Hold the lock of ``scope`` for the ``with`` block; ``LockBusy`` unless ``wait``."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        holder = _file_lock(home, scope, wait, poll)
    else:
        holder = _db_lock(engine, scope, wait, poll)
    with holder:
        yield


@contextlib.contextmanager
def _file_lock(home: Path, scope: str, wait: bool, poll: float) -> Iterator[None]:
    path = home / "locks" / (scope.replace("*", "all").replace(":", "_") + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise LockBusy(scope) from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _db_lock(engine: Engine, scope: str, wait: bool, poll: float) -> Iterator[None]:
    pg = engine.dialect.name == "postgresql"
    take = "select pg_try_advisory_lock(:k)" if pg else "select get_lock(:n, 0)"
    give = "select pg_advisory_unlock(:k)" if pg else "select release_lock(:n)"
    with engine.connect() as conn:
        # Locks are server-wide: name them by database (and schema) too, so two
        # deployments sharing a server never block each other.
        where = conn.execute(text("select current_database() || '.' || current_schema()" if pg
                                  else "select database()")).scalar()
        conn.commit()
        name = f"{where}:{scope}"
        params = {"k": _key(name), "n": hashlib.sha256(name.encode()).hexdigest()[:60]}
        while not conn.execute(text(take), params).scalar():
            conn.rollback()
            if not wait:
                raise LockBusy(scope)
            time.sleep(poll)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(give), params)
            conn.commit()
