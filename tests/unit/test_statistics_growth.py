"""Statistics follow a ledger that a first run grows many times over, and cost nothing otherwise."""

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert

from sync.ledger.statistics import Growth


def _table(rows: int):
    engine = create_engine("sqlite://")
    table = Table("grown", MetaData(), Column("id", Integer, primary_key=True))
    table.metadata.create_all(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": i} for i in range(rows)])
    return engine, table


def _run(engine, table, start: int, add: int, batch: int, first: int):
    refreshed_at: list[int] = []
    counts = [0]
    total = [start]

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args):
        if statement.lstrip().lower().startswith("select count"):
            counts[0] += 1

    growth = Growth(engine, table, lambda: refreshed_at.append(total[0]), first=first)
    for _ in range(add // batch):
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": total[0] + i} for i in range(batch)])
        total[0] += batch
        growth.grew(batch)
    return refreshed_at, counts[0]


def test_a_first_run_refreshes_each_time_the_table_doubles():
    engine, table = _table(0)
    refreshed_at, _ = _run(engine, table, 0, 1000, 10, first=10)
    assert refreshed_at == [10, 20, 40, 80, 160, 320, 640]


def test_a_night_that_adds_a_little_to_a_large_ledger_refreshes_nothing_and_counts_once():
    engine, table = _table(1000)
    refreshed_at, counts = _run(engine, table, 1000, 500, 10, first=10)
    assert refreshed_at == [] and counts == 1


def test_a_quiet_night_never_counts():
    engine, table = _table(1000)
    refreshed_at, counts = _run(engine, table, 1000, 40, 10, first=50)
    assert refreshed_at == [] and counts == 0


def test_a_run_that_doubles_an_existing_ledger_refreshes_once_it_has():
    engine, table = _table(300)
    refreshed_at, _ = _run(engine, table, 300, 400, 10, first=10)
    assert refreshed_at == [600]
