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
