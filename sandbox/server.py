"""The sandbox platform as a real HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer``).

The standard library server is used on purpose: the fault switches need the raw socket
(closing a connection mid-body, sending a truncated body), which frameworks hide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from connectors.platform.auth import canonical_string
from sandbox.faults import Faults
from sandbox.state import ApiError, PlatformState

BASE = "/open/v1"
_NONCE = re.compile(r"^[A-Za-z0-9]{16,64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_PREFIX = re.compile(r"^\d{2,12}$")


class Traffic:
    """What the platform was asked, by kind, as the bench counts it against the least the API
    allows: requests answered per kind (``feed``, ``transaction``, ``attachment``, ``result``,
    ``other``), the distinct attachments and Idempotency-Keys among them, and the 42901 answers."""

    def __init__(self) -> None:
        self.by_kind: dict[str, int] = {}
        self.attachments: set[str] = set()
        self.result_keys: set[str] = set()
        self.rate_limited = 0
        self._lock = threading.Lock()

    def count(self, kind: str, target: str | None = None) -> None:
        with self._lock:
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if kind == "attachment" and target:
                self.attachments.add(target)
            elif kind == "result" and target:
                self.result_keys.add(target)

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"by_kind": dict(self.by_kind), "requests": sum(self.by_kind.values()),
                    "distinct_attachments": len(self.attachments), "distinct_results": len(self.result_keys),
                    "rate_limited": self.rate_limited}


def _kind(command: str, path: str) -> tuple[str, str | None]:
    parts = path[len(BASE) + 1:].split("/") if path.startswith(BASE + "/") else []
    if parts == ["pension", "transactions"] and command == "GET":
        return "feed", None
    if len(parts) == 3 and parts[:2] == ["pension", "transactions"] and command == "GET":
        return "transaction", None
    if len(parts) == 4 and parts[3] == "result" and command == "POST":
        return "result", None
    if len(parts) == 2 and parts[0] == "attachments" and command == "GET":
        return "attachment", unquote(parts[1])
    return "other", None


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: PlatformState, faults: Faults, port: int = 0, host: str = "127.0.0.1") -> None:
        self.state, self.faults = state, faults
        self.requests = 0
        self.traffic = Traffic()
        self._last_page: dict[str, Any] = {}
        super().__init__((host, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (killed, timed out) is normal here, not worth a traceback."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{BASE}"

    def start(self) -> SandboxServer:
        threading.Thread(target=self.serve_forever, name="sandbox-platform", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm on, the body of every
    # keep-alive response waits for the client's delayed ACK (40 ms on Linux), and the sandbox,
    # not the bridge, set the pace of every benchmark. A production server answers at once.
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, *args: Any) -> None:  # the sandbox is quiet; the bridge logs
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.state.now(), usegmt=True)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # --- one request -----------------------------------------------------------------

    def _handle(self) -> None:
        self.server.requests += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        try:
            if self.server.faults.roll("slow"):
                time.sleep(self.server.faults.slow_seconds)
            app_key = self._authenticate(url.path, url.query, body)
            kind, target = _kind(self.command, url.path)
            try:
                self.server.state.take_token(app_key)
            except ApiError:
                self.server.traffic.limited()
                raise
            self.server.traffic.count(kind, self.headers.get("Idempotency-Key") if kind == "result" else target)
            self._injected_errors()
            self._route(url.path, dict(parse_qsl(url.query, keep_blank_values=True)), body)
        except ApiError as err:
            self._envelope(err.status, err.code, str(err), err.data, err.retry_after)
        except Exception as err:  # the platform's own bug: an enveloped 50001, as a real one answers
            self._envelope(500, 50001, f"internal error: {type(err).__name__}")

    def _authenticate(self, path: str, query: str, body: bytes) -> str:
        state, h = self.server.state, self.headers
        key, stamp, nonce, sig = (h.get(n, "") for n in ("X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature"))
        app = state.apps.get(key)
        if app is None or not _NONCE.match(nonce) or not stamp.isdigit():
            raise ApiError(40101, 401, "unknown key or malformed signature headers")
        expected = hmac.new(app.secret.encode(), canonical_string(self.command, path, query, stamp, nonce, body).encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            raise ApiError(40101, 401, "bad signature")
        if abs(state.now() * 1000 - int(stamp)) > 300_000:
            raise ApiError(40102, 401, "timestamp out of window")
        state.check_nonce(nonce)
        return key

    def _injected_errors(self) -> None:
        f = self.server.faults
        if f.roll("error_200"):
            raise ApiError(50001, 200, "internal error")
        if f.roll("rate_limited"):
            raise ApiError(42901, 429 if f.roll("rate_limited") else 200, "rate limited",
                           {"retry_after": f.retry_after}, retry_after=f.retry_after)
        if f.roll("http500"):
            raise ApiError(50001, 500, "internal error")
        if f.roll("http503"):
            raise ApiError(50301, 503, "maintenance", retry_after=f.retry_after)

    def _route(self, path: str, query: dict[str, str], body: bytes) -> None:
        if not path.startswith(BASE + "/"):
            raise ApiError(40401, 404, "no such path")
        parts = [unquote(p) for p in path[len(BASE) + 1:].split("/")]  # segments are percent-encoded
        state = self.server.state
        if parts == ["pension", "transactions"] and self.command == "GET":
            return self._ok(self._feed(query))
        if len(parts) == 3 and parts[:2] == ["pension", "transactions"] and self.command == "GET":
            return self._ok(state.transaction(parts[2]))
        if len(parts) == 4 and parts[3] == "result" and self.command == "POST":
            return self._ok(self._result(parts[2], body))
        if len(parts) == 2 and parts[0] == "attachments" and self.command == "GET":
            if state.scan_delay:
                time.sleep(state.scan_delay)
            return self._bytes(*state.attachment(parts[1]))
        raise ApiError(40401, 404, "no such path")

    def _feed(self, query: dict[str, str]) -> Any:
        limit = query.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            raise ApiError(40001, 400, "limit must be 1-500")
        after, prefix = query.get("updated_after"), query.get("region_prefix")
        if after is not None and not _TIME.match(after):
            raise ApiError(40001, 400, "updated_after must be YYYY-MM-DD HH:MM:SS")
        if prefix is not None and not _PREFIX.match(prefix):
            raise ApiError(40001, 400, "region_prefix must be 2-12 digits")
        app = self.server.state.apps[self.headers["X-App-Key"]]
        if prefix and app.prefixes and not prefix.startswith(app.prefixes):
            raise ApiError(40301, 403, "key not permitted for this region")
        key = self.headers["X-App-Key"]
        if query.get("cursor") and self.server.faults.roll("expire_cursor"):
            self.server.state.expire_cursors()
        if self.server.faults.roll("repeat_page") and key in self.server._last_page:
            return self.server._last_page[key]
        page = self.server.state.feed(after, query.get("cursor"), int(limit), prefix)
        self.server._last_page[key] = page
        return page

    def _result(self, txn_id: str, body: bytes) -> Any:
        key = self.headers.get("Idempotency-Key", "")
        if not key or len(key) > 64:
            raise ApiError(40001, 400, "Idempotency-Key is required, at most 64 characters")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ApiError(40001, 400, "body is not JSON") from None
        return self.server.state.write_result(txn_id, parsed, key, body)

    # --- answers --------------------------------------------------------------------

    def _ok(self, data: Any) -> None:
        self._envelope(200, 0, "success", data)

    def _envelope(self, status: int, code: int, message: str, data: Any = None, retry_after: float | None = None) -> None:
        payload = json.dumps({"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data},
                             ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        self._send(status, payload, headers, faulty=code == 0)

    def _bytes(self, content: bytes, content_type: str) -> None:
        headers = {"Content-Type": content_type, "X-Content-SHA256": hashlib.sha256(content).hexdigest()}
        self._send(200, content, headers, faulty=True)

    def _send(self, status: int, payload: bytes, headers: dict[str, str], faulty: bool) -> None:
        faults = self.server.faults
        drop = faulty and faults.roll("drop")
        if faulty and not drop and faults.roll("truncate"):
            payload = payload[: max(1, len(payload) // 2)]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if drop:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(payload)
