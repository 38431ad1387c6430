"""Consoles on real uvicorn servers for the attack tests: a full world (every conflict kind,
hostile scans among them) or a bare one (users only), on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx

from bridge import wiring
from bridge.settings import Settings
from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from console.auth import add_user
from tests.conftest import _fresh_url
from tests.e2e.console_world import PASSWORD, USERS, ConsoleServer, build_world
from tests.integration.sandbox_fixtures import sandbox

START = datetime(2026, 11, 26, 9, 0)


class Clock:
    """A clock the test moves on."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def full_console(backend: str, home, hostile: bool = False, **console_kw):
    for url in _fresh_url(backend, home):
        create_contract_schema(engine_for(url))
        with sandbox() as platform:
            parts = build_world(platform, url, home, hostile=hostile)
        with ConsoleServer(parts, **console_kw) as console:
            yield parts, console


@contextmanager
def bare_console(backend: str, home, clock: Clock | None = None, regions: str = "5301", **console_kw):
    """A console over an empty ledger with the three users of console_world."""
    clock = clock or Clock()
    for url in _fresh_url(backend, home):
        create_contract_schema(engine_for(url))
        parts = wiring.build_internal(Settings(internal_db=url, home=home, regions=regions), clock=clock)
        for role, (name, region) in USERS.items():
            add_user(parts.state, name, role, region, PASSWORD, clock())
        with ConsoleServer(parts, clock=clock, **console_kw) as console:
            yield parts, console


def login_form(client: httpx.Client) -> str:
    """GET /login; the CSRF token its form carries."""
    client.get("/login")
    return client.cookies["pb_login"]


def sign_in(console, name: str, password: str = PASSWORD) -> httpx.Client:
    """A client holding a session of ``name`` (asserts the sign-in worked)."""
    client = httpx.Client(base_url=console.url, timeout=30)
    token = login_form(client)
    answer = client.post("/login", data={"csrf": token, "name": name, "password": password})
    assert answer.status_code == 303, answer.text
    return client


def attempt(console, name: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        token = login_form(client)
        return client.post("/login", data={"csrf": token, "name": name, "password": password})
