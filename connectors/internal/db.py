"""Engines for the internal and the state database, whatever SQLAlchemy URL they have."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url


def normalise_url(url: str) -> str:
    """Default drivers that install with the bridge: psycopg 3 and PyMySQL."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def engine_for(url: str, **kw: object) -> Engine:
    """An engine with the settings the bridge relies on for each dialect."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if "mysql" in url or "mariadb" in url:
        kw.setdefault("isolation_level", "READ COMMITTED")
    return create_engine(url, pool_pre_ping=True, **kw)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def same_database(a: str, b: str) -> bool:
    return make_url(normalise_url(a)) == make_url(normalise_url(b))
