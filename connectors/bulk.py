"""Many rows into one table, or many rows of it changed, in the caller's transaction, as cheaply
as the database allows.

On PostgreSQL, ``COPY … FROM STDIN``: psycopg's executemany spends about 14 us of CPU per row
(each row's parameters adapted and sent as a statement of its own in a pipeline), COPY about
2.5 us (measured on 5,000 ledger-shaped rows). Elsewhere, and for a handful of rows, one
executemany. Errors come out as SQLAlchemy's (``IntegrityError`` for a duplicate key), as the
same insert through SQLAlchemy would raise them, so callers that plan a batch again on a
conflict see no difference.

Updates by key go, on PostgreSQL, as one ``UPDATE … FROM json_to_recordset(:rows)``: the rows
travel as one JSON text, which the C encoder writes in a microsecond a row. Measured on 20,000
write-back answers in chunks of 32: 0.4 s of CPU, against 0.8 s for executemany and 1.0 s for
``unnest`` of one array per column (psycopg adapts array elements one by one in Python).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

COPY_FROM = 8  # rows; below this a COPY's round trip costs as much as the executemany


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, dicts normally of one shape; columns left out take their defaults."""
    if not rows:
        return
    columns, keys = list(rows[0]), rows[0].keys()
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM or any(r.keys() != keys for r in rows):
        conn.execute(table.insert(), list(rows))  # rows of other shapes: SQLAlchemy's own checks and errors
        return
    import psycopg

    quote = conn.dialect.identifier_preparer
    sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) FROM STDIN")
    driver = conn.connection.driver_connection
    if driver is None:  # a connection SQLAlchemy has already given back
        raise RuntimeError("COPY needs an open DBAPI connection")
    cursor = driver.cursor()
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except psycopg.Error as err:
        raise DBAPIError.instance(sql, None, err, psycopg.Error, dialect=conn.dialect) from err
    finally:
        cursor.close()


Values = Mapping[str, ColumnElement[Any]]


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]],
                values: Callable[[Values], dict[str, Any]] | None = None,
                where: Callable[[Values], list[ColumnElement[bool]]] | None = None) -> int:
    """For each of ``rows`` (dicts of one shape, unique in ``key``), update the row of ``table``
    with that key; the number of rows changed.

    By default every other column of a row is set to its value. ``values(v)`` and ``where(v)``
    say otherwise: ``v[column]`` is the row's value as an SQL expression, to set a column from,
    compute with (``table.c.attempts + 1``) or compare in an extra condition
    (``table.c.version < v["version"]``); constants may be set too.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM and len({r[key] for r in rows}) == len(rows):
        blob = json.dumps(rows, ensure_ascii=False, default=str, separators=(",", ":"))
        source = func.json_to_recordset(cast(bindparam(None, blob, type_=Text), JSON)).table_valued(
            *[column(c, table.c[c].type) for c in columns]).render_derived(name="v", with_types=True)
        v: Values = {c: source.c[c] for c in columns}
        params = None
    else:  # one statement per row; rows repeating a key are applied in their order, as given
        v = {c: bindparam(f"u_{c}", type_=table.c[c].type) for c in columns}
        params = [{f"u_{c}": r[c] for c in columns} for r in rows]
    changes = values(v) if values else {c: v[c] for c in columns if c != key}
    statement = update(table).where(table.c[key] == v[key], *(where(v) if where else ())).values(changes)
    result = conn.execute(statement) if params is None else conn.execute(statement, params)
    return result.rowcount
