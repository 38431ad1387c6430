"""The real sandbox server on 127.0.0.1 and clients and settings pointed at it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from bridge.settings import Settings
from connectors.platform import PlatformClient
from connectors.platform.pacing import RetryBudget, Unlimited
from sandbox.faults import Faults
from sandbox.server import SandboxServer
from sandbox.state import App, PlatformState

KEY, SECRET = "test-key", "test-secret"


@contextmanager
def sandbox(scenario: dict[str, Any] | None = None, faults: Faults | None = None, **state_kw: Any):
    state = PlatformState(apps={KEY: App(SECRET, state_kw.pop("prefixes", ()))}, **state_kw)
    if scenario:
        state.load(scenario)
    server = SandboxServer(state, faults or Faults()).start()
    try:
        yield server
    finally:
        server.stop()


def client(server: SandboxServer, retries: int = 200, seconds: float = 60, attempts: int = 8, **kw) -> PlatformClient:
    return PlatformClient(server.base_url, KEY, SECRET, limiter=kw.pop("limiter", Unlimited()),
                          budget=RetryBudget(retries, seconds), max_attempts=attempts, timeout=kw.pop("timeout", 5), **kw)


def settings(server: SandboxServer, internal_url: str, home, **over: Any) -> Settings:
    values = dict(platform_url=server.base_url, app_key=KEY, app_secret=SECRET, internal_db=internal_url,
                  home=home, regions="5301", rate_limit=0, page_size=100)
    values.update(over)
    return Settings(**values)
