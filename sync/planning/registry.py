"""The planning side of the business-type registry (``mapping.businesses.registry``).

Each planner module registers its ``plan`` and ``compare`` here under its type's code.
``check`` runs at start-up: a type registered on one side and not the other, without a label
in the catalogue or without a YWLX, stops the program with one line naming the type and what
is missing, instead of every record of that type failing in the night.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.catalogue import has, text
from mapping.businesses import registry as types
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.records import BusinessRecord
from sync.planning.decisions import Hold, Invalid
from sync.planning.ops import Op

PlanResult = tuple[Op, ...] | Hold | Invalid
Plan = Callable[[BusinessRecord, PersonState | None, CodeTables, bool], PlanResult]
Compare = Callable[[BusinessRecord, BusinessRow, PersonState, CodeTables], list[dict[str, Any]]]
SameBusiness = Callable[[BusinessRecord, BusinessRow], bool]


def any_row(record: BusinessRecord, row: BusinessRow) -> bool:
    """Every hand-typed row of the type may be the business (the default)."""
    return True


@dataclass(frozen=True)
class Planner:
    """How one business type is planned.

    Attributes:
        code: the type's ``biz_type``.
        plan: ``(record, state, codes, force)`` -> the rows to write, or why not.
        compare: how a business already inside differs from the platform's (empty: the same).
        same_business: whether a hand-typed row can be this business at all, before comparing.
    """

    code: str
    plan: Plan
    compare: Compare
    same_business: SameBusiness = any_row


PLANNERS: dict[str, Planner] = {}


class IncompleteBusinessType(ValueError):
    """A business type lacks something it needs; the message (Chinese) names the type and what."""

    def __init__(self, code: str, missing: list[str]) -> None:
        words = "、".join(text(f"business_type.part.{m}") for m in missing)
        super().__init__(text("business_type.incomplete", code=code, missing=words))
        self.code, self.missing = code, missing


def register(planner: Planner) -> Planner:
    """Add a type's planner.

    Raises:
        ValueError: a planner of that code is registered already.
    """
    if planner.code in PLANNERS:
        raise ValueError(f"planner of {planner.code} registered twice")
    PLANNERS[planner.code] = planner
    return planner


def unregister(code: str) -> None:
    """Remove a planner (for tests that register a type of their own)."""
    PLANNERS.pop(code, None)


def planner_for(code: str) -> Planner:
    """The planner of a registered type.

    Raises:
        IncompleteBusinessType: no planner is registered for ``code`` (``check`` stops that at start-up).
    """
    planner = PLANNERS.get(code)
    if planner is None:
        raise IncompleteBusinessType(code, ["planner"])
    return planner


def missing(code: str, codes: CodeTables) -> list[str]:
    """What business type ``code`` lacks: ``rules``, ``planner``, ``label``, ``ywlx``."""
    gaps = [] if types.get(code) is not None else ["rules"]
    gaps += [] if code in PLANNERS else ["planner"]
    gaps += [] if has(f"biz_type.{code}") else ["label"]
    return gaps + ([] if codes.ywlx(code) else ["ywlx"])


def check(codes: CodeTables) -> None:
    """Refuse an incomplete business type, on either side of the registry.

    Raises:
        IncompleteBusinessType: for the first incomplete type, naming all it lacks.
    """
    for code in dict.fromkeys((*types.codes(), *PLANNERS)):
        if gaps := missing(code, codes):
            raise IncompleteBusinessType(code, gaps)
