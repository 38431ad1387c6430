"""The unit of work over the internal and the state database (``sync.uow``), on every backend:
separate, the internal side commits first; one database, one transaction; nothing stays unless
committed."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from connectors.internal.db import engine_for
from sync import uow as uow_module
from sync.uow import UnitOfWork

meta = MetaData()
inside_rows = Table("uow_inside", meta, Column("id", Integer, primary_key=True), Column("note", String(20)))
ledger_rows = Table("uow_ledger", meta, Column("id", Integer, primary_key=True), Column("note", String(20)))


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def separate(internal_url, tmp_path) -> tuple[Engine, Engine]:
    """The internal database on the backend under test, the state database a SQLite file of its own."""
    internal, state = engine_for(internal_url), engine_for(f"sqlite:///{tmp_path / 'state.db'}")
    meta.create_all(internal)
    meta.create_all(state)
    yield internal, state
    internal.dispose()
    state.dispose()


@pytest.fixture
def one(internal_url) -> Engine:
    engine = engine_for(internal_url)
    meta.create_all(engine)
    yield engine
    engine.dispose()


def write_both(uow: UnitOfWork, n: int = 1) -> None:
    uow.internal.execute(inside_rows.insert().values(id=n, note="row"))
    uow.state.execute(ledger_rows.insert().values(id=n, note="entry"))


def test_separate_databases_commit_the_internal_side_first(separate, mocker):
    internal, state = separate
    seen_between = []

    def between(name: str) -> None:  # another reader, between the two commits
        seen_between.append((name, count(internal, inside_rows), count(state, ledger_rows)))

    mocker.patch.object(uow_module.faultpoints, "reached", side_effect=between)
    with UnitOfWork(internal, state, one_database=False, between="after_internal_commit") as uow:
        write_both(uow)
        uow.commit()
    assert seen_between == [("after_internal_commit", 1, 0)]
    assert (count(internal, inside_rows), count(state, ledger_rows)) == (1, 1)


@pytest.mark.parametrize("how", ["left without commit", "raised"])
def test_separate_databases_roll_back_both_unless_committed(separate, how):
    internal, state = separate
    with pytest.raises(RuntimeError) if how == "raised" else nullcontext():
        with UnitOfWork(internal, state, one_database=False) as uow:
            write_both(uow)
            if how == "raised":
                raise RuntimeError("a bug in the middle of the batch")
    assert (count(internal, inside_rows), count(state, ledger_rows)) == (0, 0)


def test_one_database_is_one_transaction(one):
    with UnitOfWork(one, one, one_database=True) as uow:
        assert uow.state is uow.internal
        write_both(uow)
        assert (count(one, inside_rows), count(one, ledger_rows)) == (0, 0)  # nothing visible outside yet
        uow.commit()
    assert (count(one, inside_rows), count(one, ledger_rows)) == (1, 1)


def test_one_database_rolls_back_unless_committed(one):
    with pytest.raises(RuntimeError):
        with UnitOfWork(one, one, one_database=True) as uow:
            write_both(uow)
            raise RuntimeError("the ledger refused the batch")
    assert (count(one, inside_rows), count(one, ledger_rows)) == (0, 0)


@pytest.mark.parametrize("one_database", [True, False])
def test_a_failed_savepoint_undoes_its_rows_on_both_sides_and_keeps_the_rest(internal_url, tmp_path, one_database):
    internal = engine_for(internal_url)
    state = internal if one_database else engine_for(f"sqlite:///{tmp_path / 'state.db'}")
    meta.create_all(internal)
    meta.create_all(state)
    with UnitOfWork(internal, state, one_database) as uow:
        with uow.savepoint():
            write_both(uow, 1)
        with pytest.raises(RuntimeError), uow.savepoint():
            write_both(uow, 2)
            raise RuntimeError("this record's rows fail")
        uow.commit()
    with internal.connect() as conn:
        assert conn.execute(select(inside_rows.c.id)).scalars().all() == [1]
    with state.connect() as conn:
        assert conn.execute(select(ledger_rows.c.id)).scalars().all() == [1]



def test_a_state_database_that_refuses_gives_the_internal_connection_back(separate, tmp_path):
    internal, _ = separate
    unreachable = engine_for(f"sqlite:///{tmp_path / 'no-such-folder' / 'state.db'}")
    with pytest.raises(OperationalError), UnitOfWork(internal, unreachable, one_database=False):
        pass
    assert internal.pool.checkedout() == 0  # not left open, its transaction with it
    unreachable.dispose()
