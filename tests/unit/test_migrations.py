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


def test_a_ledger_from_before_0007_gets_the_answered_hints_of_what_was_sent(internal_url):
    """A quiet night skips rows whose result went out; a ledger migrated from 0006 must know
    which those are, or every night would read the whole ledger. Each backend's UPDATE … FROM."""
    from datetime import datetime

    from alembic import command
    from sqlalchemy import text

    from connectors.internal.db import engine_for
    from sync.ledger import migrate

    engine = engine_for(internal_url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0006")
    now = datetime(2026, 11, 26, 2, 0)
    with engine.begin() as conn:
        for txn_id, version in (("SENT", 2), ("FERRIED", 3), ("FAILED", 1), ("NONE", 1)):
            conn.execute(text("INSERT INTO pb_txn (txn_id, version, state, first_seen_at, state_at) "
                              "VALUES (:t, :v, 'applied', :n, :n)"), {"t": txn_id, "v": version, "n": now})
        for key, txn_id, version, status in (("a", "SENT", 1, "sent"), ("b", "FERRIED", 1, "sent"),
                                             ("c", "FERRIED", 2, "ferried"), ("d", "FAILED", 1, "failed")):
            conn.execute(text("INSERT INTO pb_writeback (idempotency_key, txn_id, outcome, version, body, status, "
                              "attempts, created_at) VALUES (:k, :t, 'accepted', :v, '{}', :s, 1, :n)"),
                         {"k": key, "t": txn_id, "v": version, "s": status, "n": now})
    upgrade(engine)
    with engine.connect() as conn:
        hints = dict(conn.execute(text("SELECT txn_id, answered_version FROM pb_txn")).all())
        unanswered = {r[0] for r in conn.execute(t.txn.select().with_only_columns(t.txn.c.txn_id).where(t.unanswered()))}
    assert hints == {"SENT": 1, "FERRIED": 2, "FAILED": None, "NONE": None}
    assert unanswered == {"FAILED", "NONE"}  # SENT at v1 and its echo v2; FERRIED v2, echo v3
