"""A view of the internal database for one batch: the people it concerns, as plain values.

Planning reads only this view, never the database, so planning is pure. The view is
loaded with one query per table per batch (``reader.load_view``) and updated in memory
as the batch's decisions are planned, so a later transaction of the same batch sees the
effect of an earlier one (an enrolment followed by a back-payment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PersonState:
    """One person as the internal system holds them (lower-case column names)."""

    person: dict[str, Any]
    enrolment: dict[str, Any] | None = None                           # AC02 of the residents' scheme
    other_schemes: list[dict[str, Any]] = field(default_factory=list)  # AC02 of any other AAE140
    bank: dict[str, Any] | None = None
    paid_years: set[int] = field(default_factory=set)
    back_paid_years: set[int] = field(default_factory=set)
    business: list[dict[str, Any]] = field(default_factory=list)      # AE_YWJL rows
    payments: list[dict[str, Any]] = field(default_factory=list)      # AC_JFJL rows
    transfers: list[dict[str, Any]] = field(default_factory=list)     # AC_ZYZR rows

    def implied(self, table: str, ywlsh: str) -> list[dict[str, Any]]:
        """The rows of ``payments`` or ``transfers`` that belong to business ``ywlsh``."""
        return [r for r in getattr(self, table) if r["ywlsh"] == ywlsh]

    @property
    def aac001(self) -> str:
        return self.person["aac001"]

    def actively_enrolled(self, active_code: str) -> bool:
        return self.enrolment is not None and str(self.enrolment["aac008"]).strip() == active_code

    def covered_elsewhere(self, active_code: str) -> list[dict[str, Any]]:
        """Active AC02 rows of another scheme (employee or civil-service pension)."""
        return [r for r in self.other_schemes if str(r.get("aac008") or "").strip() == active_code]


@dataclass
class InternalView:
    """The people of one batch by ID number, and the business already written for txn ids."""

    people: dict[str, PersonState] = field(default_factory=dict)
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # txn_id -> AE_YWJL row (by WBLSH)

    def person(self, id_number: str) -> PersonState | None:
        return self.people.get(id_number)
