"""Identifiers from ``XT_SEQ``, safe against counter staff allocating at the same time.

``UPDATE ... SET next_val = next_val + n`` takes the row's write lock until commit, so a
concurrent allocator waits, then sees our increment: no two writers get the same block.
The block is taken in the same transaction as the rows that use it; a rollback returns it.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from connectors.internal.schema import xt_seq


class SequenceMissing(RuntimeError):
    pass


def allocate(conn: Connection, name: str, count: int) -> int:
    """Reserve ``count`` values of sequence ``name``; returns the first."""
    if count <= 0:
        return 0
    changed = conn.execute(update(xt_seq).where(xt_seq.c.seq_name == name)
                           .values(next_val=xt_seq.c.next_val + count)).rowcount
    if changed != 1:
        raise SequenceMissing(f"XT_SEQ has no row {name!r}")
    after = conn.execute(select(xt_seq.c.next_val).where(xt_seq.c.seq_name == name)).scalar_one()
    return int(after) - count
