"""How well the bridge recognised double entries, against the generator's labels."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from sync.ledger import tables as t


@dataclass(frozen=True)
class LinkQuality:
    linked: int            # transactions the bridge linked
    labelled: int          # transactions labelled "link"
    correct: int           # linked and labelled "link"
    mismatches_held: int   # labelled "conflict" and held as double_entry_mismatch
    near_misses: int       # labelled "near_miss": hand-typed business that must not link
    near_misses_linked: int

    @property
    def precision(self) -> float:
        return self.correct / self.linked if self.linked else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 1.0


def link_quality(state: Engine, labels: dict[str, str]) -> LinkQuality:
    with state.connect() as conn:
        rows = conn.execute(select(t.txn.c.txn_id, t.txn.c.state, t.txn.c.reason_kind)).all()
    linked = {r.txn_id for r in rows if r.state == "linked"}
    held = {r.txn_id for r in rows if r.reason_kind == "double_entry_mismatch"}
    wanted = {k for k, v in labels.items() if v == "link"}
    conflicts = {k for k, v in labels.items() if v == "conflict"}
    near = {k for k, v in labels.items() if v == "near_miss"}
    return LinkQuality(len(linked), len(wanted), len(linked & wanted), len(held & conflicts), len(near),
                       len(linked & near))
