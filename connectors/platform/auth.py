"""Request signing of platform-api.md §1."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

import httpx


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """Parameters sorted by name then value, each percent-encoded per RFC 3986."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def canonical_string(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The six lines that are signed. ``query`` is the raw (encoded) query string."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "\n".join([method.upper(), path, canonical_query(pairs), timestamp, nonce,
                      hashlib.sha256(body).hexdigest()])


def signature(secret: str, canonical: str) -> str:
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """32 hex characters (128 random bits), within the contract's ``[A-Za-z0-9]{16,64}``."""
    return secrets.token_hex(16)


class PlatformAuth(httpx.Auth):
    """Signs every request with a fresh timestamp and nonce, as an ``httpx.Auth`` flow.

    What is signed is the path and query of the URL exactly as httpx will send them, and the
    body as sent. httpx runs the flow once per request, and every attempt is a request of its
    own, so a request re-sent after ``40102`` or ``40103`` carries a new timestamp and nonce.
    """

    requires_request_body = True

    def __init__(self, app_key: str, app_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = app_key
        self._secret = app_secret
        self._clock = clock
        self.offset = 0.0  # platform clock minus ours, learnt from a 40102 answer

    def adjust_clock(self, date_header: str | None) -> None:
        """Follow the platform's clock after a 40102, from its ``Date`` header."""
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        self.offset = server - self._clock()

    def headers(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        """The four signature headers for one request; ``query`` is the encoded query string."""
        timestamp = str(int((self._clock() + self.offset) * 1000))
        nonce = new_nonce()
        canonical = canonical_string(method, path, query, timestamp, nonce, body)
        return {"X-App-Key": self._key, "X-Timestamp": timestamp, "X-Nonce": nonce,
                "X-Signature": signature(self._secret, canonical)}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        request.headers.update(self.headers(request.method, path, query, request.content))
        yield request
