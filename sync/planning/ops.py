"""Row operations a decision consists of: what to write, not how.

Each operation can ``simulate`` itself on the in-memory view, so that later transactions
of the same batch are planned against the state the earlier ones will leave, and is
written by ``sync.applier``. A person created in this batch is referred to as
``new:<txn_id>`` until the applier allocates the ``AAC001``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mapping.codes import code
from mapping.internal import (
    BankRow,
    BusinessRow,
    EnrolmentRow,
    InternalView,
    PaymentRow,
    PersonRow,
    PersonState,
    TransferRow,
)


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
        created = PersonState(person=PersonRow(**{**self.values, "aac001": self.ref, "aab301": self.region}))
        view.people[self.values["aac002"]] = created
        return created


@dataclass(frozen=True)
class UpdatePerson(Op):
    ref: str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.person = state.person._replace(**self.values)
        return state


@dataclass(frozen=True)
class NewEnrolment(Op):
    ref: str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.enrolment = EnrolmentRow(**{**self.values, "aaz159": f"new:{self.ref}", "aac001": self.ref})
        return state


@dataclass(frozen=True)
class UpdateEnrolment(Op):
    aaz159: int | str
    values: dict[str, Any]

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None and state.enrolment is not None:
            state.enrolment = state.enrolment._replace(**self.values)
        return state


@dataclass(frozen=True)
class PutBank(Op):
    ref: str
    values: dict[str, Any]
    exists: bool

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.bank = (state.bank or BankRow(aac001=self.ref))._replace(**self.values)
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
        row = BusinessRow(ywlsh=f"new:{self.txn_id}", aac001=self.ref, ywlx=self.ywlx,
                          aae016=code("review", "pending"), wblsh=self.txn_id)
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
            state.payments.extend(PaymentRow(**{**self.values, "aae003": y, "aac001": self.ref,
                                                "ywlsh": f"new:{self.txn_id}"}) for y in self.years)
        return state


@dataclass(frozen=True)
class NewTransfer(Op):
    ref: str
    values: dict[str, Any]
    txn_id: str = ""

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is not None:
            state.transfers.append(TransferRow(**{**self.values, "aac001": self.ref, "ywlsh": f"new:{self.txn_id}"}))
        return state


@dataclass(frozen=True)
class LinkBusinessLog(Op):
    """Mark a hand-typed ``AE_YWJL`` row as this platform transaction (``WBLSH = txn_id``)."""

    ywlsh: str
    txn_id: str

    def simulate(self, view: InternalView, state: PersonState | None) -> PersonState | None:
        if state is None:
            return state
        for i, row in enumerate(state.business):
            if row.ywlsh == self.ywlsh:
                state.business[i] = view.applied[self.txn_id] = row._replace(**{"wblsh": self.txn_id})
        return state


@dataclass(frozen=True)
class Stamp:
    """Who writes and when: ``AAE011`` and ``AAE036`` of every row of one business."""

    operator: str
    at: str  # yyyymmddhhmmss
    business_date: str = field(default="")  # yyyymmdd of the YWLSH
