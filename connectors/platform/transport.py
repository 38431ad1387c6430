"""HTTP/1.1 keep-alive connections to the platform, on plain sockets.

The bridge sends about two requests per transaction (a scan, a result), so the HTTP client's
own CPU is a large share of a night. Measured per request, single-threaded, against the
sandbox (a 7 KB scan, signing and hash checks included): httpx about 1 ms, the standard
library's ``http.client`` 277 us — most of it in ``email.parser`` reading the response headers
and in ``putheader`` — and this module 74 us. The platform API needs none of what the general
clients buy: no redirects, cookies, HTTP/2, proxies or content decoding; one host, keep-alive,
timeouts, a size cap, chunked bodies and TLS, which is what is here.
"""

from __future__ import annotations

import socket
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
    """One complete answer. ``headers`` is case-insensitive (``Headers``)."""

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


class Headers(dict):
    """Response headers by lower-case name; looked up by any case. A repeated header keeps its
    first value (the platform sends none twice)."""

    def get(self, key: str, default=None):  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class _Closed(Exception):
    """The server closed the connection before the first byte of an answer."""


class _Malformed(Exception):
    """Not an HTTP/1.x answer, or one cut short."""


# What a keep-alive connection that the server closed while it sat idle fails with on reuse.
_CLOSED_WHILE_IDLE = (_Closed, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
MAX_HEAD = 64 * 1024  # bytes of status line and headers
_READ = 65536


class _Connection:
    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def fill(self) -> bool:
        """Read what has arrived onto the buffer; False at the end of the stream."""
        chunk = self.sock.recv(_READ)
        self.buf += chunk
        return bool(chunk)

    def line(self) -> bytes:
        """One CRLF-terminated line (without it), for chunk sizes and trailers."""
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise _Malformed("line too long")
            if not self.fill():
                raise _Malformed("connection closed inside the answer")
        out = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return out

    def exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes of body."""
        if len(self.buf) >= n:
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out
        out = bytearray(n)
        have = len(self.buf)
        out[:have] = self.buf
        self.buf.clear()
        view = memoryview(out)
        while have < n:
            got = self.sock.recv_into(view[have:], n - have)
            if not got:
                raise _Malformed(f"body cut short: {have} of {n} bytes")
            have += got
        return bytes(out)


class HttpTransport:
    """A bounded pool of keep-alive connections to one ``http``/``https`` origin, safe across threads.

    A connection that the server has closed while it sat idle fails on its next use (the peer
    hung up, a reset, a broken pipe); that request is sent once more on a fresh connection
    before the failure counts. A timeout is never resent here: the slow request may still be
    running on the server. Every request to the platform may be sent twice: reads are safe,
    and a result carries its ``Idempotency-Key`` (platform-api.md §6).
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, connect_timeout: float = 10.0,
                 max_connections: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"platform URL must be http(s)://host[:port]/path, not {base_url!r}")
        self.base_path = parts.path.rstrip("/")
        self._host, self._https = parts.hostname, parts.scheme == "https"
        self._port = parts.port or (443 if self._https else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._authority = host if parts.port in (None, 443 if self._https else 80) else f"{host}:{parts.port}"
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)
        self._timeout, self._connect_timeout = timeout, min(timeout, connect_timeout)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    def send(self, request: Request, max_bytes: int | None = None) -> Response:
        message = self._message(request)
        with self._slots:
            conn, reused = self._take()
            try:
                return self._exchange(conn, message, request.method, max_bytes)
            except TooLarge:
                conn.close()
                raise
            except (OSError, _Closed, _Malformed) as err:
                conn.close()
                if not (reused and isinstance(err, _CLOSED_WHILE_IDLE)):
                    # A timeout or a body cut short is the server's doing now, not a stale
                    # connection: it goes back to the client's paced, budgeted retries.
                    raise TransportError(_describe(err)) from err
            conn = self._connect()  # the idle connection had been closed by the server
            try:
                return self._exchange(conn, message, request.method, max_bytes)
            except TooLarge:
                conn.close()
                raise
            except (OSError, _Closed, _Malformed) as err:
                conn.close()
                raise TransportError(_describe(err)) from err

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- connections ---------------------------------------------------------------

    def _take(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._connect_timeout)
        except OSError as err:
            raise TransportError(f"cannot connect to {self._host}: {err}") from err
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(self._timeout)
        except OSError as err:
            sock.close()
            raise TransportError(f"cannot connect to {self._host}: {err}") from err
        return _Connection(sock)

    # --- one exchange --------------------------------------------------------------

    def _message(self, request: Request) -> bytes:
        target = request.path + (f"?{request.query}" if request.query else "")
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: {self._authority}", "Accept-Encoding: identity"]
        for name, value in request.headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} cannot be sent")
            lines.append(f"{name}: {value}")
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(request.body)}")
        return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + request.body

    def _exchange(self, conn: _Connection, message: bytes, method: str, max_bytes: int | None) -> Response:
        conn.buf.clear()
        conn.sock.sendall(message)
        while True:
            version, status, headers = self._head(conn)
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue) is followed by the real one
        closing = "close" in headers.get("connection", "").lower() or (
            version == "HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower())
        if method == "HEAD" or status in (204, 304):
            content = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            content = self._chunked(conn, max_bytes)
        elif (length := headers.get("content-length")) is not None:
            if not length.strip().isdigit():
                raise _Malformed(f"Content-Length {length!r}")
            size = int(length)
            if max_bytes is not None and size > max_bytes:
                raise TooLarge(f"{size} bytes announced")
            content = conn.exact(size)
        else:  # the body runs to the end of the connection
            content = self._to_end(conn, max_bytes)
            closing = True
        if closing or conn.buf:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return Response(status, headers, content)

    @staticmethod
    def _head(conn: _Connection) -> tuple[str, int, Headers]:
        first = True
        while (end := conn.buf.find(b"\r\n\r\n")) < 0:
            if len(conn.buf) > MAX_HEAD:
                raise _Malformed("headers too long")
            if not conn.fill():
                if first and not conn.buf:
                    raise _Closed("the server closed the connection")
                raise _Malformed("connection closed inside the headers")
            first = False
        lines = bytes(conn.buf[:end]).decode("latin-1").split("\r\n")
        del conn.buf[:end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise _Malformed(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers = Headers()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise _Malformed(f"header line {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            if key == "content-length" and key in headers and headers[key] != value:
                raise _Malformed("two different Content-Length headers")
            headers.setdefault(key, value)
        return version, int(code), headers

    @staticmethod
    def _chunked(conn: _Connection, max_bytes: int | None) -> bytes:
        parts, total = [], 0
        while True:
            size_text = conn.line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Malformed(f"chunk size {size_text[:20]!r}") from None
            if size == 0:
                while conn.line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            total += size
            if max_bytes is not None and total > max_bytes:
                raise TooLarge(f"more than {max_bytes} bytes")
            parts.append(conn.exact(size))
            if conn.line():
                raise _Malformed("chunk not followed by CRLF")

    @staticmethod
    def _to_end(conn: _Connection, max_bytes: int | None) -> bytes:
        while conn.fill():
            if max_bytes is not None and len(conn.buf) > max_bytes:
                raise TooLarge(f"more than {max_bytes} bytes")
        content = bytes(conn.buf)
        conn.buf.clear()
        return content


def _describe(err: BaseException) -> str:
    if isinstance(err, socket.timeout):
        return f"timed out: {err}"
    return f"{type(err).__name__}: {err}"
