"""Creating and upgrading the bridge's own tables with Alembic, never the internal ones."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the state database to the latest revision (idempotent)."""
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": "pb_alembic_version"}).get_current_revision()


def head() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()
