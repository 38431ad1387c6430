"""After a night that wrote, the ledger is vacuumed where autovacuum is off, by autovacuum's own thresholds."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, text, update

from sync.ledger import statistics
from tests.conftest import _fresh_url


@pytest.fixture
def pg(tmp_path):
    for url in _fresh_url("postgresql", tmp_path):
        engine = create_engine(url)
        yield engine
        engine.dispose()


def _table(engine, name: str, autovacuum: bool) -> Table:
    table = Table(name, MetaData(), Column("id", Integer, primary_key=True), Column("note", String(20)))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = {str(autovacuum).lower()})"))
    return table


def _write(engine, statement, rows=None) -> None:
    with engine.begin() as conn:
        conn.execute(statement, rows) if rows else conn.execute(statement)
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")  # the counts the night's writes leave


def _stat(engine, name: str, column: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT {column} FROM pg_stat_user_tables WHERE relname = :n "
                                 "AND schemaname = current_schema()"), {"n": name}).scalar()


def test_vacuums_past_the_thresholds_only_where_autovacuum_is_off(pg):
    with pg.connect() as conn:
        server_on = conn.exec_driver_sql("SHOW autovacuum").scalar() == "on"
    off, on = _table(pg, "kept_off", autovacuum=False), _table(pg, "kept_on", autovacuum=True)
    for table in (off, on):
        _write(pg, insert(table), [{"id": i, "note": "new"} for i in range(3000)])
    assert statistics.tidy(pg, [off, on]) == (["kept_off"] if server_on else ["kept_off", "kept_on"])
    assert statistics.tidy(pg, [off, on]) == []  # nothing written since: nothing to do

    _write(pg, update(off).where(off.c.id < 100).values(note="answered"))  # under 50 + 20 % of 3,000
    assert statistics.tidy(pg, [off]) == []
    _write(pg, update(off).values(note="answered"))  # every row: a dead entry each
    assert _stat(pg, "kept_off", "n_dead_tup") >= 3000
    before = _stat(pg, "kept_off", "vacuum_count")
    assert statistics.tidy(pg, [off]) == ["kept_off"]
    # (whether the dead rows could go depends on the oldest open transaction on the server)
    assert _stat(pg, "kept_off", "vacuum_count") == before + 1


def test_elsewhere_it_only_refreshes_statistics(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    table.metadata.create_all(engine)
    assert statistics.tidy(engine, [table]) == []
