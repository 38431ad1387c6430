"""The internal tables of ../shared/contracts/internal-db.sql, for building queries.

These describe the contract; the bridge never creates, alters or drops them, except that
``create_contract_schema`` runs the contract's own DDL to build a fresh database for the
demo and the tests.
"""

from __future__ import annotations

import re
from importlib import resources

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
