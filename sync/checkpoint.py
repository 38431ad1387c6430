"""The feed checkpoint: a typed, versioned value committed with the rows it covers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from sync.ledger import tables as t

FORMAT_VERSION = 1


class Checkpoint(BaseModel):
    """How far the feed of one scope (all regions, or one region prefix) is committed."""

    format_version: int = FORMAT_VERSION
    updated_at: datetime | None = Field(default=None, description="latest updated_at committed")


def scope_of(region_prefix: str | None) -> str:
    return f"feed:{region_prefix or '*'}"


def read(conn: Connection, scope: str) -> Checkpoint:
    value = conn.execute(select(t.checkpoint.c.value).where(t.checkpoint.c.scope == scope)).scalar()
    return Checkpoint.model_validate_json(value) if value else Checkpoint()


def write(conn: Connection, scope: str, value: Checkpoint, now: datetime) -> None:
    """Store the checkpoint in the caller's transaction; it only moves forward."""
    current = read(conn, scope)
    if current.updated_at and value.updated_at and value.updated_at <= current.updated_at:
        return
    values = {"value": value.model_dump_json(), "updated_at": now}
    if conn.execute(update(t.checkpoint).where(t.checkpoint.c.scope == scope).values(**values)).rowcount == 0:
        conn.execute(t.checkpoint.insert().values(scope=scope, **values))
