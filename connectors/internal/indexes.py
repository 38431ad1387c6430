"""Secondary indexes the bridge's reads want on the internal database, which the contract lacks.

The contract (``internal-db.sql``) indexes ``AE_YWJL`` by ``YWLSH`` and ``WBLSH`` only. The
bridge reads a batch's people's business by ``AAC001`` — to recognise what counter staff typed
by hand — so on a county's database of a million people each batch scans the whole table:
270 ms per batch of 500 against 10 ms with the index (PostgreSQL 15, a million rows), about 50 s
over a night of 100,000 transactions. A night's seal and write-back look for the bridge's
business reviewed since the last night by ``AAE015``, the review time (``sync.sweep``): without
an index, a scan of all of ``AE_YWJL`` (139 ms at a million rows), with one a few entries.
The bridge never changes
the internal database's schema by itself: ``pension-bridge db internal-indexes`` says what is
missing, and creates it only when told to (``--create``), for a DBA who agrees. The names start
with ``pb_`` so that they are recognisably the bridge's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Wanted:
    table: str
    column: str

    @property
    def name(self) -> str:
        return f"pb_ix_{self.table}_{self.column}"

    @property
    def ddl(self) -> str:
        return f"CREATE INDEX {self.name} ON {self.table} ({self.column})"


WANTED = (Wanted("ae_ywjl", "aac001"), Wanted("ac_zyzr", "aac001"), Wanted("ae_ywjl", "aae015"))


def missing(engine: Engine) -> list[Wanted]:
    """The wanted indexes for which no index of the table starts with the column."""
    inspector = inspect(engine)
    out = []
    for want in WANTED:
        leading = {(ix.get("column_names") or [None])[0] for ix in inspector.get_indexes(want.table)}
        leading |= {(uc.get("column_names") or [None])[0] for uc in inspector.get_unique_constraints(want.table)}  # type: ignore[list-item]
        if want.column not in leading:
            out.append(want)
    return out


def create(engine: Engine, wanted: list[Wanted]) -> None:
    with engine.begin() as conn:
        for want in wanted:
            conn.execute(text(want.ddl))


ADVISE_FROM_PEOPLE = 100_000


def advise(engine: Engine) -> list[Wanted]:
    """The missing indexes, when the database is large enough for them to matter (else none)."""
    wanted = missing(engine)
    if not wanted:
        return []
    with engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM ac01")).scalar() or 0
    return wanted if people >= ADVISE_FROM_PEOPLE else []
