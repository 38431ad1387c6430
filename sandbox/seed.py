"""Writing a scenario's internal rows into a fresh internal database (demo and tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine

from connectors.internal import schema as t

ORDER = ("ac01", "ac02", "ac_yhzh", "ae_ywjl", "ac_jfjl", "ac_zyzr")


def seed(engine: Engine, internal: dict[str, Any], chunk: int = 5000) -> None:
    """Insert the rows table by table, then move ``XT_SEQ`` past them."""
    with engine.begin() as conn:
        for name in ORDER:
            rows = internal.get(name, [])
            for start in range(0, len(rows), chunk):
                conn.execute(t.TABLES[name].insert(), rows[start:start + chunk])
        for seq, value in internal.get("xt_seq", {}).items():
            conn.execute(update(t.xt_seq).where(t.xt_seq.c.seq_name == seq).values(next_val=value))
