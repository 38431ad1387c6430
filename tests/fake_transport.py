"""A platform that answers from a function, over ``httpx.MockTransport``, for unit tests of the client."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from connectors.platform.client import PlatformClient
from connectors.platform.pacing import RetryBudget, Unlimited

BASE_URL = "http://p/open/v1"


class FakeTransport(httpx.MockTransport):
    """``handler`` answers every request; ``sent`` keeps each request as it reached the wire."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.sent: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            self.sent.append(request)
            return handler(request)

        super().__init__(record)


def fake_client(handler: Callable[[httpx.Request], httpx.Response], **kw) -> tuple[PlatformClient, FakeTransport]:
    """A client whose requests go to ``handler``; unpaced, with a small retry budget."""
    transport = FakeTransport(handler)
    kw.setdefault("budget", RetryBudget(3, 3))
    return PlatformClient(BASE_URL, kw.pop("key", "k"), kw.pop("secret", "s"), limiter=Unlimited(),
                          transport=transport, **kw), transport


def envelope(data=None, code: int = 0, status: int = 200, **headers: str) -> httpx.Response:
    """A JSON answer of §2; ``headers`` by Python name (``Retry_After``)."""
    return httpx.Response(status, json={"code": code, "message": "m", "request_id": "r", "data": data},
                          headers={name.replace("_", "-"): value for name, value in headers.items()})
