"""The platform client: one httpx client (a keep-alive pool), signing, pacing, byte caps, a
whole-request deadline, classified retries.

Every answer is read as a stream under a cap for its kind and under the request's deadline, so
neither a huge body nor a server that trickles it can take the run's memory or its night.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from connectors.platform import errors as e
from connectors.platform.auth import PlatformAuth
from connectors.platform.envelope import classify
from connectors.platform.network import Deadline, DeadlineTransport, proxy_for, tls_context
from connectors.platform.pacing import RateLimiter, RetryBudget

log = structlog.get_logger(__name__)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # platform-api.md §5
MAX_PAGE_BYTES = 16 * 1024 * 1024  # a feed page of 500 transactions, 32 KiB each on average
MAX_OBJECT_BYTES = 1024 * 1024  # one transaction, a write-back's answer
DEFAULT_DEADLINE = 120.0  # seconds for one request, from its first byte sent to its last received
_LOCAL_FAULTS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)  # their text is ours, not the server's
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}


@dataclass(frozen=True)
class Page:
    """One page of the change feed, its items still raw JSON objects."""

    items: list[Any]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class Scan:
    """A downloaded attachment whose bytes matched both hashes."""

    content: bytes
    content_type: str
    sha256: str


class _NoCookies(httpx.Cookies):
    """A jar that never takes a cookie and never sends one: the platform's API is signed per
    request and needs none, and a cookie a server (or a proxy) sets is not sent back. Without a
    jar httpx would also build two ``urllib`` objects per answer to look for ``Set-Cookie``."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Client(httpx.Client):
    """``httpx.Client`` whose cookies are ``_NoCookies``, whatever is assigned to them."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None


_NO_COOKIES = _NoCookies()


class _TooLarge(Exception):
    """An answer over its cap; what was read of it is dropped."""


class ScanRejected(Exception):
    """An attachment that arrived intact but is not acceptable; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _segment(value: str) -> str:
    """An id as one path segment, percent-encoded (RFC 3986): the path sent is the path signed,
    and an id from messy data (a space, a slash, Chinese) cannot break the request line."""
    return quote(str(value), safe="-_.~")


def sniff(content: bytes) -> str | None:
    """The type a scan really is, from its first bytes: JPEG, PNG or PDF, else None."""
    return next((kind for magic, kind in _MAGIC.items() if content.startswith(magic)), None)


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


class PlatformClient:
    """The open API of platform-api.md: feed pages, transactions, attachments, results."""

    PAGE_LIMIT = 500
    TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

    def __init__(self, base_url: str, app_key: str, app_secret: str, *, limiter: RateLimiter,
                 budget: RetryBudget, timeout: float = 30.0, max_attempts: int = 8,
                 transport: httpx.BaseTransport | None = None, max_connections: int = 16,
                 deadline: float = DEFAULT_DEADLINE, proxy: str | None = None,
                 ca_bundle: str | Path | None = None, client_cert: str | Path | None = None,
                 client_key: str | Path | None = None,
                 first_check: Callable[[e.PlatformError], str | None] | None = None) -> None:
        """Args:
            timeout: seconds for each phase (connect at most 10, a read, a write, a pooled connection).
            deadline: seconds for a whole request, however its server trickles the answer.
            transport: instead of the network (``httpx.MockTransport`` in tests).
            proxy, ca_bundle, client_cert, client_key: the county's network (``network.py``).
            first_check: asked about each failed attempt of this client's first request; a line it
                returns ends that request at once as ``Unconfigured(line)``, unretried. So the
                run's first request is its check of the settings, and no request is spent on one.
        """
        if httpx.URL(base_url).scheme not in ("http", "https"):
            raise ValueError(f"platform URL must be http(s)://host[:port]/path, not {base_url!r}")
        self._auth = PlatformAuth(app_key, app_secret)
        self._deadline, self.deadline = Deadline(), deadline
        if transport is None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            transport = DeadlineTransport(self._deadline, verify=tls_context(ca_bundle, client_cert, client_key),
                                          limits=limits, proxy=proxy_for(base_url, proxy))
        # No redirects followed, no cookies kept, nothing from the environment but the proxy above;
        # identity encoding, so the byte caps count what is kept.
        self._http = _Client(base_url=base_url, auth=self._auth, transport=transport, trust_env=False,
                             follow_redirects=False, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                             headers={"Accept-Encoding": "identity", "User-Agent": "pension-bridge"})
        # What ``build_request`` would merge into every request, merged once: the same URL (the base
        # with its trailing slash, then the path), the same headers, the same timeouts.
        # httpx keeps a trailing slash on a base URL's path, but a URL with no path at all prints
        # without one: the prefix always ends in one, so a relative path is joined as httpx would.
        self._prefix = str(self._http.base_url).rstrip("/") + "/"
        self._headers = list(self._http.headers.raw)
        self._extensions = {"timeout": self._http.timeout.as_dict()}
        self.limiter, self.budget, self.max_attempts = limiter, budget, max_attempts
        self.stats = ClientStats()
        self.first_check = first_check

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API -------------------------------------------------------------------

    def changes_page(self, *, updated_after: datetime | None = None, cursor: str | None = None,
                     region_prefix: str | None = None, limit: int = PAGE_LIMIT) -> Page:
        """One page of ``GET /pension/transactions`` (§4)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        elif updated_after is not None:
            params["updated_after"] = updated_after.strftime(self.TIME_FORMAT)
        if region_prefix:
            params["region_prefix"] = region_prefix
        data = self._send("GET", "/pension/transactions", cap=MAX_PAGE_BYTES,
                          query=urlencode(params, quote_via=quote))
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise e.FatalError("the feed answered a page without an item list")
        return Page(data["items"], data.get("next_cursor"), bool(data.get("has_more")))

    def transaction(self, txn_id: str) -> Any:
        """The latest version of one transaction (§5)."""
        return self._send("GET", f"/pension/transactions/{_segment(txn_id)}", cap=MAX_OBJECT_BYTES)

    def attachment(self, attachment_id: str, declared_sha256: str | None) -> Scan:
        """The bytes of one scan, checked against ``X-Content-SHA256`` and the declared hash.

        Raises:
            ScanRejected: too large (over 10 MiB: not read further), not JPEG/PNG/PDF, or not the
                declared bytes.
            NotFound: the platform has no such attachment.
        """
        answer = self._send("GET", f"/attachments/{_segment(attachment_id)}", cap=MAX_ATTACHMENT_BYTES, raw=True)
        if not isinstance(answer, tuple):  # a JSON envelope that says success, where bytes belong
            raise ScanRejected("type_not_allowed")
        content, digest = answer
        if declared_sha256 and digest != declared_sha256.lower():
            raise ScanRejected("sha256_mismatch")
        kind = sniff(content)
        if kind is None:
            raise ScanRejected("type_not_allowed")
        return Scan(content, kind, digest)

    def post_result(self, txn_id: str, body: dict[str, Any], idempotency_key: str) -> Any:
        """``POST /pension/transactions/{txn_id}/result`` (§6). Same key, same body: no second effect."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Idempotency-Key": idempotency_key, "Content-Type": "application/json; charset=utf-8"}
        return self._send("POST", f"/pension/transactions/{_segment(txn_id)}/result", cap=MAX_OBJECT_BYTES,
                          body=content, headers=headers)

    # --- one request ---------------------------------------------------------------

    def _send(self, method: str, path: str, *, cap: int, raw: bool = False, query: str = "", body: bytes = b"",
              headers: dict[str, str] | None = None) -> Any:
        args = (method, path, cap, raw, query, body, headers)
        first, self.first_check = self.first_check, None  # consulted about the first request only
        try:  # nearly every request succeeds at once: no retry machinery for it
            return self._once(*args)
        except e.RetriableError as err:
            failed: list[e.RetriableError] = [err]
            if first is not None:
                self._settings_fault(first, err)
        except e.PlatformError as err:
            if first is not None:
                self._settings_fault(first, err)
            raise
        retrying = Retrying(retry=retry_if_exception_type(e.RetriableError), wait=self._wait,
                            stop=self._stop, reraise=True, before_sleep=self._before_sleep)
        try:
            for attempt in retrying:
                with attempt:
                    if failed:  # tenacity's first attempt is the one that just failed: same waits, same counts
                        raise failed.pop()
                    return self._once(*args)
        except e.RetriableError as err:
            raise e.RetryBudgetExhausted(f"{method} {path}: gave up after retries: {err}", err.code) from err

    @staticmethod
    def _settings_fault(check: Callable[[e.PlatformError], str | None], err: e.PlatformError) -> None:
        line = check(err)
        if line is not None:
            raise e.Unconfigured(line, err.code) from err

    def _once(self, method: str, path: str, cap: int, raw: bool, query: str, body: bytes,
              headers: dict[str, str] | None) -> Any:
        """One signed attempt (``PlatformAuth`` signs it as sent), its answer read under ``cap``."""
        self.limiter.acquire()
        self.stats.requests += 1
        self._deadline.at = time.monotonic() + self.deadline  # the pacing wait above is not the server's
        try:
            response = self._http.send(self._request(method, path, query, body, headers), stream=True)
            try:
                content = self._read(response, cap)
            finally:
                response.close()
        except _TooLarge as err:
            if raw:
                raise ScanRejected("too_large") from err
            raise e.ResponseTooLarge(f"{method} {path}: the answer is longer than {cap} bytes") from err
        except httpx.TransportError as err:
            if self._deadline.passed():
                raise e.DeadlineExceeded(f"{method} {path}: not over within {self.deadline:g} s") from err
            # A server's own words (a status line that is not HTTP, say) are not repeated into logs.
            reason = f"{type(err).__name__}: {err}" if isinstance(err, _LOCAL_FAULTS) else type(err).__name__
            raise e.RetriableError(f"{method} {path}: {reason}") from err
        finally:
            self._deadline.at = None
        if raw and response.is_success and not response.headers.get("content-type", "").startswith("application/json"):
            digest = self._check_transfer(content, response.headers.get("X-Content-SHA256", ""))
            self.limiter.on_success()
            return content, digest
        try:  # only the header classify reads goes with the bytes: nothing else of the answer is kept
            data = classify(httpx.Response(response.status_code, content=content,
                                           headers={"Retry-After": response.headers.get("Retry-After", "")}))
        except e.ResignError as err:
            if err.code == 40102:
                self._auth.adjust_clock(response.headers.get("Date"))
            raise
        self.limiter.on_success()
        return data

    def _request(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str] | None
                 ) -> httpx.Request:
        """The request ``self._http.build_request`` would make, without its per-request merging of
        the base URL, the client's headers and a cookie jar (a fifth of the client's CPU)."""
        url = httpx.URL(f"{self._prefix}{path.lstrip('/')}?{query}" if query else f"{self._prefix}{path.lstrip('/')}")
        extra = [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()] if headers else []
        return httpx.Request(method, url, headers=self._headers + extra, content=body or None,
                             extensions=self._extensions)

    def _read(self, response: httpx.Response, cap: int) -> bytes:
        """The body as sent (identity), at most ``cap`` bytes, over before the deadline."""
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise e.FatalError(f"HTTP {response.status_code}: an encoded body, where identity was asked for")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge(declared)
        content = bytearray()
        for chunk in response.iter_bytes():  # identity (checked above): the bytes as sent
            content += chunk
            if len(content) > cap:
                raise _TooLarge(f"more than {cap}")
            if self._deadline.passed():  # chunks that each came in time, too slowly in all
                raise httpx.ReadTimeout("the request's deadline has passed")
        return bytes(content)

    @staticmethod
    def _check_transfer(content: bytes, sent: str) -> str:
        """The bytes' SHA-256, hashed once for both checks (a real scan is hundreds of KB)."""
        digest = hashlib.sha256(content).hexdigest()
        if sent and digest != sent.lower():
            # Bytes damaged on the way: fetch again rather than blame the agent.
            raise e.RetriableError("attachment bytes do not match X-Content-SHA256")
        return digest

    # --- retry policy --------------------------------------------------------------

    _backoff = wait_exponential_jitter(multiplier=0.2, max=30.0, jitter=0.5)

    def _wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        hint = getattr(err, "retry_after", None)
        if getattr(err, "code", None) == 42901:
            self.limiter.slow_down()
        return float(hint) if hint is not None else self._backoff(state)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        return not self.budget.spend(state.upcoming_sleep)

    def _before_sleep(self, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        self.stats.retries += 1
        key = str(getattr(err, "code", None) or type(err).__name__)
        self.stats.by_code[key] = self.stats.by_code.get(key, 0) + 1
        log.warning("platform_retry", attempt=state.attempt_number, wait=round(state.upcoming_sleep, 2), error=str(err))
