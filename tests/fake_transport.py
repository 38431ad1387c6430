"""A transport that answers from a function, for unit tests of the platform client."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message

from connectors.platform.transport import Request, Response, TooLarge


def headers(**values: str) -> Message:
    """Case-insensitive headers, as ``http.client`` gives them."""
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


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
