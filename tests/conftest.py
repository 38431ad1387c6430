"""Shared fixtures: database backends (SQLite always; PostgreSQL and MariaDB when they
answer), fresh internal databases built from the contract DDL, and the sandbox platform."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIA_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
ON_CI = os.environ.get("CI") == "true"
# Each test gets a schema (PostgreSQL) or a database (MariaDB) of its own.
SERVERS = {
    "postgresql": {"admin": PG_ADMIN, "create": 'create schema "{name}"', "drop": 'drop schema "{name}" cascade',
                   "url": "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{name}"},
    "mariadb": {"admin": MARIA_ADMIN, "create": "create database `{name}`", "drop": "drop database `{name}`",
                "url": "mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"},
}


def _answers(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as err:  # the reason goes into the skip message
        return f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"


_REACH: dict[str, str | None] = {}


def _reason(name: str) -> str | None:
    if name not in _REACH:
        _REACH[name] = _answers(SERVERS[name]["admin"])
    return _REACH[name]


def _fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'internal.db'}"
        return
    reason = _reason(backend)
    if reason:
        if backend == "postgresql" and ON_CI:
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(f"{backend} does not answer on 127.0.0.1: {reason}")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server = SERVERS[backend]
    admin = create_engine(server["admin"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(server["create"].format(name=name)))
    yield server["url"].format(name=name)
    with admin.connect() as conn:
        conn.execute(text(server["drop"].format(name=name)))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def internal_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh internal database built from the contract DDL, on each backend."""
    for url in _fresh_url(backend, tmp_path):
        engine = engine_for(url)
        create_contract_schema(engine)
        engine.dispose()
        yield url


@pytest.fixture
def sqlite_internal_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'internal-sqlite.db'}"
    engine = engine_for(url)
    create_contract_schema(engine)
    engine.dispose()
    return url


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless chromium per test process, for every module that drives the console.

    Defined once, here: a fixture imported into several modules is several fixtures, and two
    Playwright sync drivers alive in one process refuse to run ("Sync API inside the asyncio loop").
    """
    if not os.path.exists(CHROMIUM):
        if ON_CI:
            pytest.fail("CI requires chromium for the console tests (.ci/run installs it)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
