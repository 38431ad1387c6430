"""Batch reads of the internal database: one query per table per batch, never per record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ARRAY, Table, any_, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from connectors.internal import schema as t
from mapping.codes import CodeTables, grades_from_rows
from mapping.internal import (
    BankRow,
    BusinessRow,
    EnrolmentRow,
    InternalRow,
    InternalView,
    PaymentRow,
    PersonRow,
    PersonState,
    TransferRow,
)

CHUNK = 500  # bind parameters per IN list; well below every dialect's limit
ARRAY_CHUNK = 5000  # keys per array parameter (PostgreSQL): one round trip for what took ten


def chunk_size(conn: Connection) -> int:
    """Keys per query on ``conn``: many in one array parameter on PostgreSQL, else an IN list's."""
    return ARRAY_CHUNK if conn.dialect.name == "postgresql" else CHUNK


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def within(conn: Connection, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` for one chunk of keys.

    On PostgreSQL one array parameter, ``column = ANY(:values)``: an IN list renders one bind
    parameter per value, which SQLAlchemy expands and psycopg parses again on every execution —
    about four times the CPU of the array for a chunk of 500 keys (measured).
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _rows(conn: Connection, kind: type[InternalRow], table: Table, column: ColumnElement[Any],
          values: Iterable[Any], *where: ColumnElement[bool]) -> list[InternalRow]:
    """The rows of ``table`` whose ``column`` is one of ``values``, each read into ``kind``.

    The query selects the row type's columns in its order, so a row is built from the result's
    tuple as it comes (``_make``), its text stripped on the way: a third of building it from a
    mapping by name, for the tens of thousands of rows of a batch (measured).
    """
    out: list[InternalRow] = []
    columns = [table.c[name] for name in kind._fields]
    for part in chunks(sorted(set(values))):
        query = select(*columns).where(within(conn, column, part), *where)
        out.extend(kind._make(map(_stripped, r)) for r in conn.execute(query))
    return out


def _stripped(value: Any) -> Any:
    return value.strip() if value.__class__ is str else value


def load_view(conn: Connection, id_numbers: Iterable[str], txn_ids: Iterable[str], codes: CodeTables) -> InternalView:
    """The people with these ID numbers and the business written for these txn ids, as typed rows."""
    view = InternalView()
    for person in _rows(conn, PersonRow, t.ac01, t.ac01.c.aac002, id_numbers):
        view.people[person.aac002 or ""] = PersonState(person=person)
    by_aac001 = {p.aac001: p for p in view.people.values()}
    insurance = codes.setting("insurance", "aae140")
    for enrolment in _rows(conn, EnrolmentRow, t.ac02, t.ac02.c.aac001, by_aac001):  # other pensions block enrolment
        if enrolment.aae140 == insurance:
            by_aac001[enrolment.aac001].enrolment = enrolment
        else:
            by_aac001[enrolment.aac001].other_schemes.append(enrolment)
    for bank in _rows(conn, BankRow, t.ac_yhzh, t.ac_yhzh.c.aac001, by_aac001):
        by_aac001[bank.aac001].bank = bank
    _payments(conn, by_aac001, codes)
    for business in _rows(conn, BusinessRow, t.ae_ywjl, t.ae_ywjl.c.aac001, by_aac001):
        by_aac001[business.aac001 or ""].business.append(business)
    for transfer in _rows(conn, TransferRow, t.ac_zyzr, t.ac_zyzr.c.aac001, by_aac001):
        by_aac001[transfer.aac001 or ""].transfers.append(transfer)
    written = _rows(conn, BusinessRow, t.ae_ywjl, t.ae_ywjl.c.wblsh, txn_ids)
    view.applied = {b.wblsh or "": b for b in written}
    return view


def _payments(conn: Connection, people: dict[str, PersonState], codes: CodeTables) -> None:
    individual = codes.setting("payment", "individual")
    back = codes.setting("payment", "back_payment")
    for payment in _rows(conn, PaymentRow, t.ac_jfjl, t.ac_jfjl.c.aac001, people, t.ac_jfjl.c.aae341 == individual):
        state = people[payment.aac001 or ""]
        state.payments.append(payment)
        state.paid_years.add(payment.aae003)
        if payment.aaa115 == back:
            state.back_paid_years.add(payment.aae003)


def load_codes(conn: Connection) -> CodeTables:
    """AA10 and AA18 as code tables, with ``config/codes.toml``."""
    aa10 = {(r.aaa100, r.aaa102): r.aaa103 for r in conn.execute(select(t.aa10))}
    grades = grades_from_rows([dict(r._mapping) for r in conn.execute(select(t.aa18))])
    return CodeTables(aa10=aa10, grades=grades)
