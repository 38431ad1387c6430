"""HTTP/1.1 keep-alive connections to the platform, on the standard library's ``http.client``.

Why not httpx here: the bridge sends about two requests per transaction (a scan, a result),
and the profile of a nightly run (issue 9) showed httpx spending about 1 ms of CPU on each —
building the request and URL models, cookies, the auth flow, httpcore's pool bookkeeping —
against about 0.3 ms for the same request on ``http.client``. At 2.2 requests per transaction
that alone exceeded the 1.5 ms per transaction the whole sync may spend. The platform API
needs none of what that machinery buys: no redirects, cookies, HTTP/2 or content decoding;
one host, keep-alive, timeouts, a size cap and TLS, which ``http.client`` does.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit


class TransportError(Exception):
    """The connection failed, timed out or broke before the whole answer arrived."""


class TooLarge(Exception):
    """The answer is longer than the caller allows; nothing of it is kept."""


@dataclass(frozen=True)
class Response:
    """One complete answer. ``headers`` is case-insensitive (``http.client.HTTPMessage``)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes = b""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    """The full path on the server, e.g. ``/open/v1/pension/transactions``."""
    query: str
    """The encoded query string, without ``?``; empty when there is none."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Transport(Protocol):
    """Sends one request and reads the whole answer, at most ``max_bytes`` of body."""

    base_path: str

    def send(self, request: Request, max_bytes: int | None = None) -> Response: ...

    def close(self) -> None: ...


# What a keep-alive connection that the server closed while it sat idle fails with on reuse.
_CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class HttpTransport:
    """A bounded pool of keep-alive connections to one ``http``/``https`` origin, safe across threads.

    A connection that the server has closed while it sat idle fails on its next use (the peer
    hung up, a reset, a broken pipe); that request is sent once more on a fresh connection
    before the failure counts. A timeout is never resent here: the slow request may still be
    running on the server. Every request
    to the platform may be sent twice: reads are safe, and a result carries its
    ``Idempotency-Key`` (platform-api.md §6).
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, connect_timeout: float = 10.0,
                 max_connections: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"platform URL must be http(s)://host[:port]/path, not {base_url!r}")
        self.base_path = parts.path.rstrip("/")
        self._host, self._port, self._https = parts.hostname, parts.port, parts.scheme == "https"
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)
        self._timeout, self._connect_timeout = timeout, min(timeout, connect_timeout)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    def send(self, request: Request, max_bytes: int | None = None) -> Response:
        target = request.path + (f"?{request.query}" if request.query else "")
        with self._slots:
            conn, reused = self._take()
            try:
                return self._exchange(conn, request, target, max_bytes)
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                if not (reused and isinstance(err, _CLOSED_WHILE_IDLE)):
                    # A timeout or a body cut short is the server's doing now, not a stale
                    # connection: it goes back to the client's paced, budgeted retries.
                    raise TransportError(f"{type(err).__name__}: {err}") from err
            conn = self._connect()  # the idle connection had been closed by the server
            try:
                return self._exchange(conn, request, target, max_bytes)
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                raise TransportError(f"{type(err).__name__}: {err}") from err

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- connections ---------------------------------------------------------------

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()  # sets TCP_NODELAY
        except OSError as err:
            conn.close()
            raise TransportError(f"cannot connect to {self._host}: {err}") from err
        conn.sock.settimeout(self._timeout)
        return conn

    def _exchange(self, conn: http.client.HTTPConnection, request: Request, target: str,
                  max_bytes: int | None) -> Response:
        conn.request(request.method, target, body=request.body or None, headers=request.headers)
        answer = conn.getresponse()
        length = answer.length  # None when chunked
        if max_bytes is not None and length is not None and length > max_bytes:
            conn.close()
            raise TooLarge(f"{length} bytes announced")
        if max_bytes is None or length is not None:
            content = answer.read()
        else:
            content = answer.read(max_bytes + 1)
            if len(content) > max_bytes:
                conn.close()
                raise TooLarge(f"more than {max_bytes} bytes")
            content += answer.read()  # the chunked terminator, so the connection can be reused
        if length is not None and len(content) != length:
            raise http.client.IncompleteRead(content, length - len(content))
        if answer.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return Response(answer.status, answer.headers, content)
