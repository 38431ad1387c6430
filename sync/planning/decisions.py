"""What the planner decides for one transaction version. Exactly one per version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mapping.problems import Problem
from sync.planning.ops import Op


@dataclass(frozen=True)
class Decision:
    """Base: ``state`` is the ledger state the transaction ends in."""

    state: str = field(init=False, default="pending")


@dataclass(frozen=True)
class Apply(Decision):
    """Write these rows; the ledger records the transaction as applied."""

    ops: tuple[Op, ...]
    update: bool = False  # re-applying a later version over an earlier one
    state: str = field(init=False, default="applied")


@dataclass(frozen=True)
class Link(Apply):
    """The business was typed in by hand already: mark it as this transaction, write nothing else."""

    ywlsh: str = ""
    state: str = field(init=False, default="linked")


@dataclass(frozen=True)
class Rejected(Decision):
    """An operator sent the business back to the platform with a reason."""

    reason: str
    state: str = field(init=False, default="rejected")


@dataclass(frozen=True)
class AlreadyApplied(Decision):
    """The internal database holds this business already (``WBLSH`` = txn_id)."""

    ywlsh: str
    state: str = field(init=False, default="applied")


@dataclass(frozen=True)
class Unchanged(Decision):
    """Nothing new: the echo of our own write-back, or an older version. State stays as it was."""

    why: str
    state: str = field(init=False, default="unchanged")


@dataclass(frozen=True)
class Withdrawn(Decision):
    state: str = field(init=False, default="withdrawn")


@dataclass(frozen=True)
class Invalid(Decision):
    problems: tuple[Problem, ...]
    state: str = field(init=False, default="invalid")


@dataclass(frozen=True)
class Hold(Decision):
    """An operator must decide: ``kind`` of conflict, ``detail`` for the sentence, differing fields."""

    kind: str
    detail: str = ""
    fields: tuple[dict[str, Any], ...] = ()
    rows: tuple[dict[str, Any], ...] = ()
    state: str = field(init=False, default="conflict")
