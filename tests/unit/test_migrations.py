"""The migrations leave the state database exactly as ``sync/ledger/tables.py`` describes it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from sync.ledger import tables as t
from sync.ledger.migrate import upgrade


def test_migrations_match_the_table_definitions(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata)
    ignored = {"pb_alembic_version"}
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name in ignored)]
    assert diff == []


def test_the_recorded_head_is_alembics_and_a_current_database_is_left_alone(tmp_path, mocker):
    from alembic import command

    from sync.ledger import migrate

    assert migrate.HEAD == migrate.head()
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    assert migrate.current(engine) is None
    upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
    spy = mocker.spy(command, "upgrade")
    upgrade(engine)
    assert spy.call_count == 0


def test_a_migration_that_fails_half_way_on_sqlite_leaves_nothing_behind(tmp_path, mocker):
    """A kill (here: an error) after some of the first migration's tables: none of them stays,
    and the next run migrates from scratch instead of failing on 'table already exists'."""
    from alembic.ddl.impl import DefaultImpl
    from sqlalchemy import inspect

    from sync.ledger import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    real, calls = DefaultImpl.create_table, []

    def flaky(self, table, **kw):
        calls.append(table.name)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(self, table, **kw)

    patch = mocker.patch.object(DefaultImpl, "create_table", flaky)
    try:
        upgrade(engine)
    except RuntimeError:
        pass
    assert len(calls) == 3 and inspect(engine).get_table_names() == []
    mocker.stop(patch)
    upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
