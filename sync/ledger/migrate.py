"""Creating and upgrading the bridge's own tables with Alembic, never the internal ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "pb_alembic_version"
HEAD = "0010"
"""The latest revision, so that a database already there is recognised without importing
Alembic (a fifth of a rerun's start-up); a test keeps it equal to Alembic's own head."""


def _config(connection: Connection | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the state database to the latest revision (idempotent)."""
    if current(engine) == HEAD:
        return
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite runs DDL outside any transaction unless one is opened by hand: a run
            # killed half-way through the first migration left half the tables and no version,
            # and every later run failed on "table already exists". Now all or nothing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            if current(engine) == HEAD:  # another process migrated while we waited for the lock
                return
        command.upgrade(_config(conn), "head")


def current(engine: Engine) -> str | None:
    """The revision the database is at; None before the first migration."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def head() -> str:
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(_config(None)).get_current_head()
    if found is None:  # the package ships its migrations: none found is a broken install
        raise RuntimeError(f"no Alembic revision under {MIGRATIONS}")
    return found
