"""The internal database as planning sees it: one batch's people as typed rows.

Planning reads only this view, never the database, so planning is pure. The view is loaded
with one query per table per batch (``connectors.internal.reader.load_view``), where each row
is read once into its type below, its text stripped of the padding ``CHAR`` columns come with;
it is then updated in memory as the batch's decisions are planned, so a later transaction of
the same batch sees the effect of an earlier one (an enrolment followed by a back-payment).
Rows are named tuples, so immutable: an operation's ``simulate`` replaces a row
(``row._replace(...)``), never edits it, and ``row._asdict()`` is the plain mapping a conflict
stores. (Tuples, not frozen dataclasses: a batch reads tens of thousands of rows, and a frozen
dataclass costs three times as much to build; measured, 4.3 against 1.4 us for AC01's twelve.)

Attribute names are the contract's column names (``../shared/contracts/internal-db.md``),
lower-case, so the rows, the operations' values and the SQL name the same things alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple, TypeVar

# Any one of the row types (``connectors.internal.reader`` reads each the same way).
InternalRow = TypeVar("InternalRow", "PersonRow", "EnrolmentRow", "BankRow", "BusinessRow", "PaymentRow",
                      "TransferRow")


class PersonRow(NamedTuple):
    """AC01: the person."""

    aac001: str
    aac002: str | None = None         # ID number
    aac003: str | None = None         # name
    aac004: str | None = None         # sex
    aac005: str | None = None         # ethnicity
    aac006: int | None = None         # birth date, yyyymmdd
    aac009: str | None = None         # household type
    aab301: str | None = None         # region (village)
    aae005: str | None = None         # phone
    aae006: str | None = None         # address
    aae011: str | None = None
    aae036: str | None = None


class EnrolmentRow(NamedTuple):
    """AC02: an enrolment in one scheme (AAE140)."""

    aaz159: int | str                 # ``new:<ref>`` for an enrolment planned in this batch
    aac001: str
    aae140: str | None = None
    aac008: str | None = None         # enrolment state
    aac031: str | None = None         # payment state
    aac049: int | None = None         # since, yyyymm
    aac066: str | None = None
    aaz289: int | None = None         # grade
    aae160: str | None = None         # termination reason
    aic301: int | None = None         # terminated, yyyymm
    aae011: str | None = None
    aae036: str | None = None


class BankRow(NamedTuple):
    """AC_YHZH: the person's bank account."""

    aac001: str
    aae008: str | None = None         # bank code
    aae009: str | None = None         # holder
    aae010: str | None = None         # account number
    aae011: str | None = None
    aae036: str | None = None


class BusinessRow(NamedTuple):
    """AE_YWJL: one business, typed by hand (SJLY 1) or written by sync (SJLY 2, WBLSH = txn_id)."""

    ywlsh: str
    aac001: str | None = None
    ywlx: str | None = None
    sjly: str | None = None
    wblsh: str | None = None
    bgnr: str | None = None
    aae011: str | None = None
    aae036: str | None = None         # entered, yyyymmddhhmmss
    aae016: str | None = None         # review
    aae015: str | None = None
    aae013: str | None = None
    qzzt: str | None = None


class PaymentRow(NamedTuple):
    """AC_JFJL: one year's contribution."""

    aae003: int                       # year
    aac001: str | None = None
    jfjl_id: int | None = None
    aaa115: str | None = None
    aae341: str | None = None
    aae022: Decimal | None = None     # amount
    ywlsh: str | None = None


class TransferRow(NamedTuple):
    """AC_ZYZR: what a transfer-in brought."""

    ywlsh: str
    aac001: str | None = None
    zcdq: str | None = None           # from region
    grzhye: Decimal | None = None     # account balance
    jfnx: int | None = None           # years paid
    zypzh: str | None = None          # transfer document


@dataclass
class PersonState:
    """One person as the internal system holds them."""

    person: PersonRow
    enrolment: EnrolmentRow | None = None                          # AC02 of the residents' scheme
    other_schemes: list[EnrolmentRow] = field(default_factory=list)  # AC02 of any other AAE140
    bank: BankRow | None = None
    paid_years: set[int] = field(default_factory=set)
    back_paid_years: set[int] = field(default_factory=set)
    business: list[BusinessRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    transfers: list[TransferRow] = field(default_factory=list)

    def payments_of(self, ywlsh: str) -> list[PaymentRow]:
        """The AC_JFJL rows that belong to business ``ywlsh``."""
        return [r for r in self.payments if r.ywlsh == ywlsh]

    def transfers_of(self, ywlsh: str) -> list[TransferRow]:
        """The AC_ZYZR rows that belong to business ``ywlsh``."""
        return [r for r in self.transfers if r.ywlsh == ywlsh]

    @property
    def aac001(self) -> str:
        return self.person.aac001

    def actively_enrolled(self, active_code: str) -> bool:
        return self.enrolment is not None and self.enrolment.aac008 == active_code

    def covered_elsewhere(self, active_code: str) -> list[EnrolmentRow]:
        """Active AC02 rows of another scheme (employee or civil-service pension)."""
        return [r for r in self.other_schemes if r.aac008 == active_code]


@dataclass
class InternalView:
    """The people of one batch by ID number, and the business already written for txn ids."""

    people: dict[str, PersonState] = field(default_factory=dict)
    applied: dict[str, BusinessRow] = field(default_factory=dict)  # txn_id -> AE_YWJL row (by WBLSH)

    def person(self, id_number: str) -> PersonState | None:
        return self.people.get(id_number)
