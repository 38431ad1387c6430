"""The queue page's data path on each backend, as the load benchmark serves it
(devtools/console_bench.py): every open conflict listed once, residents who waited longest first,
each with the resident's name from its own version, and a page that costs two statements (the
session, the page) once the counts are kept, none of them a BEGIN or ROLLBACK round trip."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, event, select
from starlette.testclient import TestClient

from console import app as console_app
from console.app import Console
from console.auth import add_user, login
from devtools.console_bench import NOW, PASSWORD, fill
from sync.ledger import tables as t
from sync.ledger.migrate import upgrade

NEXT = re.compile(r'href="/\?([^"]+)" rel="next"')
ITEM = re.compile(r'<a href="/conflicts/([0-9]+)">[^<]*?(居民[0-9]+)')


@pytest.fixture
def served(internal_url, monkeypatch):
    engine = create_engine(internal_url)
    upgrade(engine)
    fill(engine, 23)
    add_user(engine, "县级甲", "staff", "5301", PASSWORD, NOW)
    monkeypatch.setattr(console_app, "PAGE_SIZE", 5)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement.split()[0].upper()))
    client = TestClient(Console(SimpleNamespace(state=engine), lambda: NOW).app)
    client.cookies.set("pb_session", login(engine, "县级甲", PASSWORD, NOW))
    yield engine, client, statements
    client.close()
    engine.dispose()


def test_the_queue_lists_every_open_conflict_once_longest_wait_first_with_its_name(served):
    engine, client, statements = served
    with engine.connect() as conn:
        expected = [(r.id, f"居民{int(r.txn_id[2:])}") for r in conn.execute(
            select(t.conflict.c.id, t.conflict.c.txn_id).join(t.txn, t.txn.c.txn_id == t.conflict.c.txn_id)
            .order_by(t.txn.c.created_at, t.conflict.c.id))]
    seen, query, pages = [], "", 0
    while True:
        answer = client.get("/?" + query if query else "/")
        assert answer.status_code == 200
        seen += [(int(cid), name) for cid, name in ITEM.findall(answer.text)]
        pages += 1
        found = NEXT.search(answer.text)
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
    assert seen == expected and len(expected) == 23 and pages == 5


def test_a_queue_page_costs_the_session_and_the_page_and_no_transaction_round_trips(served):
    engine, client, statements = served
    assert client.get("/").status_code == 200  # the first counts too
    statements.clear()
    for _ in range(3):
        answer = client.get("/")
        assert answer.status_code == 200 and "居民" in answer.text
    # The session's lookup and the page with its residents' names: no third query per page (the
    # names used to be one), no count (kept), and the reads in autocommit, so no transaction to
    # end; SQLAlchemy's own BEGIN/ROLLBACK would not show here, so the isolation level is checked.
    assert statements == ["SELECT", "SELECT"] * 3
    assert Console(SimpleNamespace(state=engine), lambda: NOW).reads.get_execution_options()["isolation_level"] \
        == "AUTOCOMMIT"
