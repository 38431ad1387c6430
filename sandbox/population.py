"""A county's insured who are not in tonight's feed: many enrolled people, written in chunks.

A scenario holds the people its transactions are about; a real internal database holds
every insured person of the county — a million for a large one — and the bridge's lookups,
indexes and plans must be measured against that (issue 9). These people are made and written
a chunk at a time, never all in memory, with the same row builder as the scenario's own
(``InternalRows``), their identifiers continuing ``XT_SEQ`` and their ID numbers disjoint
from the scenario's, so that no transaction finds a stranger as its person.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from connectors.bulk import insert_rows
from connectors.internal import schema as t
from sandbox.generator import GRADES, villages
from sandbox.internal_rows import InternalRows
from sandbox.people import make_person
from sandbox.seed import ORDER


def scenario_ids(scenario: dict[str, Any]) -> set[str]:
    """Every ID number a scenario's transactions or internal rows name."""
    ids = {r["aac002"] for r in scenario["internal"].get("ac01", [])}
    for txn in scenario["transactions"]:
        person = txn.get("person") if isinstance(txn, dict) else None
        if isinstance(person, dict) and isinstance(person.get("id_number"), str):
            ids.add(person["id_number"].upper())
    return ids


def populate(engine: Engine, count: int, avoid: set[str], seed: int = 77, until: datetime | None = None,
             chunk: int = 20_000) -> int:
    """Enrol ``count`` more people in the internal database; returns how many were written."""
    rng = random.Random(seed)
    until = until or datetime.now()
    places = villages()
    with engine.connect() as conn:
        seq = {r.seq_name: r.next_val for r in conn.execute(select(t.xt_seq.c.seq_name, t.xt_seq.c.next_val))}
    taken = set(avoid)
    written = 0
    while written < count:
        rows = InternalRows(rng)
        rows.seq.update({k: v for k, v in seq.items() if k in rows.seq})
        for _ in range(min(chunk, count - written)):
            code, name = rng.choice(places)
            person = make_person(rng, code, name, until.date())
            if person.id_number in taken:
                continue
            taken.add(person.id_number)
            since = until.date() - timedelta(days=rng.randrange(400, 5000))
            paid = [y for y in range(since.year, until.year) if rng.random() < 0.7]
            rows.enrol(person, rng.choice(GRADES), since, paid_years=paid)
            written += 1
        tables = rows.tables()
        with engine.begin() as conn:
            for name in ORDER:
                if tables.get(name):
                    insert_rows(conn, t.TABLES[name], tables[name])  # COPY on PostgreSQL
        seq = tables["xt_seq"]
    with engine.begin() as conn:
        for name, value in seq.items():
            conn.execute(update(t.xt_seq).where(t.xt_seq.c.seq_name == name).values(next_val=value))
    return written

