"""The internal tables of ../shared/contracts/internal-db.sql, for building queries.

These describe the contract; the bridge never creates, alters or drops them, except that
``create_contract_schema`` runs the contract's own DDL to build a fresh database for the
demo and the tests.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

aa10 = Table("aa10", metadata, Column("aaa100", String(20), primary_key=True),
             Column("aaa102", String(10), primary_key=True), Column("aaa103", String(100)))
aa18 = Table("aa18", metadata, Column("aaz289", Integer, primary_key=True), Column("aaa044", String(50)),
             Column("eaa007", Numeric(12, 2)), Column("aae041", Integer), Column("aae042", Integer),
             Column("aae100", String(1)))
xt_seq = Table("xt_seq", metadata, Column("seq_name", String(20), primary_key=True), Column("next_val", BigInteger))
ac01 = Table("ac01", metadata, Column("aac001", String(20), primary_key=True), Column("aac002", String(18)),
             Column("aac003", String(50)), Column("aac004", String(1)), Column("aac005", String(2)),
             Column("aac006", Integer), Column("aac009", String(2)), Column("aab301", String(12)),
             Column("aae005", String(20)), Column("aae006", String(200)), Column("aae011", String(50)),
             Column("aae036", String(14)))
ac02 = Table("ac02", metadata, Column("aaz159", BigInteger, primary_key=True), Column("aac001", String(20)),
             Column("aae140", String(3)), Column("aac008", String(1)), Column("aac031", String(1)),
             Column("aac049", Integer), Column("aac066", String(3)), Column("aaz289", Integer),
             Column("aae160", String(4)), Column("aic301", Integer), Column("aae011", String(50)),
             Column("aae036", String(14)))
ac_yhzh = Table("ac_yhzh", metadata, Column("aac001", String(20), primary_key=True), Column("aae008", String(10)),
                Column("aae009", String(50)), Column("aae010", String(32)), Column("aae011", String(50)),
                Column("aae036", String(14)))
ae_ywjl = Table("ae_ywjl", metadata, Column("ywlsh", String(20), primary_key=True), Column("aac001", String(20)),
                Column("ywlx", String(2)), Column("sjly", String(1)), Column("wblsh", String(40)),
                Column("bgnr", Text), Column("aae011", String(50)), Column("aae036", String(14)),
                Column("aae016", String(1)), Column("aae015", String(14)), Column("aae013", String(500)),
                Column("qzzt", String(1)))
ac_jfjl = Table("ac_jfjl", metadata, Column("jfjl_id", BigInteger, primary_key=True), Column("aac001", String(20)),
                Column("aae003", Integer), Column("aaa115", String(2)), Column("aae341", String(2)),
                Column("aae022", Numeric(12, 2)), Column("ywlsh", String(20)))
ac_zyzr = Table("ac_zyzr", metadata, Column("ywlsh", String(20), primary_key=True), Column("aac001", String(20)),
                Column("zcdq", String(12)), Column("grzhye", Numeric(12, 2)), Column("jfnx", Integer),
                Column("zypzh", String(40)))

TABLES = {t.name: t for t in metadata.sorted_tables}


def contract_ddl() -> str:
    """The contract's DDL as shipped with the bridge (a copy of internal-db.sql)."""
    return resources.files(__package__).joinpath("internal-db.sql").read_text(encoding="utf-8")


def statements(sql: str) -> list[str]:
    """Split SQL text into statements, dropping ``--`` comments."""
    text = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in text.split(";") if s.strip()]


def create_contract_schema(engine: Engine) -> None:
    """Build the internal tables and code data on an empty database (demo and tests only)."""
    with engine.begin() as conn:
        for statement in statements(contract_ddl()):
            conn.exec_driver_sql(statement)


# --- what fits: the limits of every column, from the tables above (one place) ---------------

INT32, INT64 = 2**31 - 1, 2**63 - 1


def limit_of(column: Column[Any]) -> tuple[str, int] | None:
    """What a column holds at most: ("chars", n) for varchar/char(n), ("digits", n) for the
    integer digits of decimal(p, s), ("int", max) for integer and bigint; None if unbounded."""
    kind = column.type
    if isinstance(kind, String) and not isinstance(kind, Text) and kind.length:
        return ("chars", kind.length)
    if isinstance(kind, Numeric) and not isinstance(kind, (Integer, BigInteger)) and kind.precision:
        return ("digits", kind.precision - (kind.scale or 0))
    if isinstance(kind, BigInteger):
        return ("int", INT64)
    if isinstance(kind, Integer):
        return ("int", INT32)
    return None


LIMITS: dict[str, dict[str, tuple[str, int]]] = {
    table.name: {c.name: lim for c in table.columns if (lim := limit_of(c)) is not None} for table in metadata.sorted_tables}


def misfits(table: str, values: dict[str, object]) -> list[tuple[str, tuple[str, int]]]:
    """(column, limit) of each value that the column of ``table`` cannot hold.

    PostgreSQL and MariaDB (strict mode) refuse such a value and roll back the whole
    transaction; SQLite keeps it whole. Checked before anything is written."""
    limits, out = LIMITS.get(table, {}), []
    for name, value in values.items():
        limit = limits.get(name)
        if limit is None or value is None:
            continue
        kind, bound = limit
        if kind == "chars":
            fits = len(str(value)) <= bound
        elif kind == "int":
            fits = isinstance(value, bool) or not isinstance(value, int) or -bound - 1 <= value <= bound
        else:
            try:
                fits = abs(Decimal(str(value))) < Decimal(10) ** bound
            except (InvalidOperation, ValueError):
                fits = True  # not a number: not this check's to say
        if not fits:
            out.append((name, limit))
    return out


def ddl_limits(sql: str) -> dict[str, dict[str, tuple[str, int]]]:
    """The same limits read from the contract's DDL text (a test holds LIMITS to it)."""
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for statement in statements(sql):
        head = re.match(r"create\s+table\s+(\w+)\s*\((.*)\)\s*$", statement, re.S | re.I)
        if not head:
            continue
        columns = out.setdefault(head.group(1).lower(), {})
        for line in head.group(2).split("\n"):
            col = re.match(r"\s*(\w+)\s+(varchar|char|decimal|integer|bigint)\b\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?",
                           line, re.I)
            if not col or col.group(1).lower() in ("primary", "unique", "foreign"):
                continue
            name, kind = col.group(1).lower(), col.group(2).lower()
            if kind in ("varchar", "char"):
                columns[name] = ("chars", int(col.group(3)))
            elif kind == "decimal":
                columns[name] = ("digits", int(col.group(3)) - int(col.group(4) or 0))
            else:
                columns[name] = ("int", INT64 if kind == "bigint" else INT32)
    return out
