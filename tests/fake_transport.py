"""A transport that answers from a function, for unit tests of the platform client."""

from __future__ import annotations

from collections.abc import Callable
from connectors.platform.transport import Headers, Request, Response, TooLarge


def headers(**values: str) -> Headers:
    """Case-insensitive headers, as the transport gives them."""
    return Headers({name.replace("_", "-").lower(): value for name, value in values.items()})


class FakeTransport:
    base_path = "/open/v1"

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.sent: list[Request] = []

    def send(self, request: Request, max_bytes: int | None = None) -> Response:
        self.sent.append(request)
        response = self.handler(request)
        if max_bytes is not None and len(response.content) > max_bytes:
            raise TooLarge(f"{len(response.content)} bytes")
        return response

    def close(self) -> None:
        pass
