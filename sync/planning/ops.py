"""Row operations a decision consists of: what to write, not how.

Each operation can ``simulate`` itself on the in-memory view, so that later transactions
of the same batch are planned against the state the earlier ones will leave, and is
written by ``sync.applier``. A person created in this batch is referred to as
``new:<txn_id>`` until the applier allocates the ``AAC001``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.internal.view import InternalView, PersonState
from mapping.codes import code


def new_ref(txn_id: str) -> str:
    return f"new:{txn_id}"


@dataclass(frozen=True)
class Op:
    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        return state


@dataclass(frozen=True)
class NewPerson(Op):
    ref: str
    region: str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState:
        created = PersonState(person={"aac001": self.ref, "aab301": self.region, **self.values})
        view.people[self.values["aac002"]] = created
        return created


@dataclass(frozen=True)
class UpdatePerson(Op):
    ref: str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.person.update(self.values)
        return state


@dataclass(frozen=True)
class NewEnrolment(Op):
    ref: str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.enrolment = {"aaz159": f"new:{self.ref}", "aac001": self.ref, **self.values}
        return state


@dataclass(frozen=True)
class UpdateEnrolment(Op):
    aaz159: int | str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None and state.enrolment is not None:
            state.enrolment.update(self.values)
        return state


@dataclass(frozen=True)
class PutBank(Op):
    ref: str
    values: dict[str, Any]
    exists: bool

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.bank = {"aac001": self.ref, **(state.bank or {}), **self.values}
        return state


@dataclass(frozen=True)
class NewBusinessLog(Op):
    """The ``AE_YWJL`` row of a business written by sync (``SJLY = '2'``, ``WBLSH = txn_id``)."""

    ref: str
    ywlx: str
    txn_id: str
    bgnr: str | None = None
    remark: str | None = None  # AAE013: for the reviewer, e.g. an optional field left out

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        row = {"ywlsh": f"new:{self.txn_id}", "aac001": self.ref, "ywlx": self.ywlx, "aae016": code("review", "pending"),
               "wblsh": self.txn_id, "aae036": None, "sjly": None}
        view.applied[self.txn_id] = row
        if state is not None:
            state.business.append(row)
        return state


@dataclass(frozen=True)
class NewPayments(Op):
    ref: str
    years: tuple[int, ...]
    values: dict[str, Any]
    txn_id: str = ""

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.paid_years.update(self.years)
            state.back_paid_years.update(self.years)
            state.payments.extend({**self.values, "aae003": y, "ywlsh": f"new:{self.txn_id}"} for y in self.years)
        return state


@dataclass(frozen=True)
class NewTransfer(Op):
    ref: str
    values: dict[str, Any]
    txn_id: str = ""

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.transfers.append({**self.values, "ywlsh": f"new:{self.txn_id}"})
        return state


@dataclass(frozen=True)
class LinkBusinessLog(Op):
    """Mark a hand-typed ``AE_YWJL`` row as this platform transaction (``WBLSH = txn_id``)."""

    ywlsh: str
    txn_id: str

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        for row in state.business if state else []:
            if row["ywlsh"] == self.ywlsh:
                row["wblsh"] = self.txn_id
                view.applied[self.txn_id] = row
        return state


@dataclass(frozen=True)
class Stamp:
    """Who writes and when: ``AAE011`` and ``AAE036`` of every row of one business."""

    operator: str
    at: str  # yyyymmddhhmmss
    business_date: str = field(default="")  # yyyymmdd of the YWLSH
