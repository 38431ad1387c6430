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


def link_quality(state: Engine, labels: dict[str, str], twins: dict[str, str] | None = None) -> LinkQuality:
    with state.connect() as conn:
        rows = conn.execute(select(t.txn.c.txn_id, t.txn.c.state, t.txn.c.reason_kind)).all()
    return quality([tuple(r) for r in rows], labels, twins or {})


def quality(rows: list[tuple[str, str, str | None]], labels: dict[str, str], twins: dict[str, str]) -> LinkQuality:
    """``rows``: (txn_id, state, reason_kind) of the ledger. A platform duplicate (``twins``: its
    txn_id -> the one it copies) carries the label of the business it copies: the hand-typed row
    is one business, and either submission of it may be the one that links, the other held as a
    duplicate. The original may even be the invalid one, made messy after it was copied. Both
    linking counts one correct link and one wrong."""
    linked = [twins.get(r[0], r[0]) for r in rows if r[1] == "linked"]
    held = {twins.get(r[0], r[0]) for r in rows if r[2] == "double_entry_mismatch"}
    wanted = {k for k, v in labels.items() if v == "link"}
    conflicts = {k for k, v in labels.items() if v == "conflict"}
    near = {k for k, v in labels.items() if v == "near_miss"}
    return LinkQuality(len(linked), len(wanted), len(set(linked) & wanted), len(held & conflicts), len(near),
                       sum(1 for b in linked if b in near))
