"""The platform client: keep-alive connections, signing, pacing, classified retries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

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
from connectors.platform.pacing import RateLimiter, RetryBudget
from connectors.platform.transport import (
    HttpTransport,
    Request,
    Response,
    TooLarge,
    Transport,
    TransportError,
)

log = structlog.get_logger(__name__)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
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
                 transport: Transport | None = None, max_connections: int = 16) -> None:
        self._auth = PlatformAuth(app_key, app_secret)
        self._http = transport or HttpTransport(base_url, timeout=timeout, max_connections=max_connections)
        self.limiter, self.budget, self.max_attempts = limiter, budget, max_attempts
        self.stats = ClientStats()

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
        data = self._send("GET", "/pension/transactions", query=urlencode(params, quote_via=quote))
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise e.FatalError("the feed answered a page without an item list")
        return Page(data["items"], data.get("next_cursor"), bool(data.get("has_more")))

    def transaction(self, txn_id: str) -> Any:
        """The latest version of one transaction (§5)."""
        return self._send("GET", f"/pension/transactions/{_segment(txn_id)}")

    def attachment(self, attachment_id: str, declared_sha256: str | None) -> Scan:
        """The bytes of one scan, checked against ``X-Content-SHA256`` and the declared hash.

        Raises:
            ScanRejected: too large, not JPEG/PNG/PDF, or not the declared bytes.
            NotFound: the platform has no such attachment.
        """
        answer = self._send("GET", f"/attachments/{_segment(attachment_id)}", raw=True)
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
        return self._send("POST", f"/pension/transactions/{_segment(txn_id)}/result", body=content, headers=headers)

    # --- transport -----------------------------------------------------------------

    def _send(self, method: str, path: str, raw: bool = False, query: str = "", body: bytes = b"",
              headers: dict[str, str] | None = None) -> Any:
        try:  # nearly every request succeeds at once: no retry machinery for it (35 us of CPU each)
            return self._once(method, path, raw, query, body, headers)
        except e.RetriableError as err:
            failed: list[e.RetriableError] = [err]
        retrying = Retrying(retry=retry_if_exception_type(e.RetriableError), wait=self._wait,
                            stop=self._stop, reraise=True, before_sleep=self._before_sleep)
        try:
            for attempt in retrying:
                with attempt:
                    if failed:  # tenacity's first attempt is the one that just failed: same waits, same counts
                        raise failed.pop()
                    return self._once(method, path, raw, query, body, headers)
        except e.RetriableError as err:
            raise e.RetryBudgetExhausted(f"{method} {path}: gave up after retries: {err}", err.code) from err

    def _once(self, method: str, path: str, raw: bool, query: str, body: bytes,
              headers: dict[str, str] | None) -> Any:
        self.limiter.acquire()
        self.stats.requests += 1
        full_path = self._http.base_path + path
        signed = self._auth.headers(method, full_path, query, body)
        if headers:
            signed.update(headers)
        try:
            response = self._http.send(Request(method, full_path, query, signed, body),
                                       max_bytes=MAX_ATTACHMENT_BYTES if raw else None)
        except TooLarge as err:
            raise ScanRejected("too_large") from err
        except TransportError as err:
            raise e.RetriableError(str(err)) from err
        if raw and response.is_success and not response.headers.get("content-type", "").startswith("application/json"):
            digest = self._check_transfer(response)
            self.limiter.on_success()
            return response.content, digest
        try:
            data = classify(response)
        except e.ResignError as err:
            if err.code == 40102:
                self._auth.adjust_clock(response.headers.get("Date"))
            raise
        self.limiter.on_success()
        return data

    @staticmethod
    def _check_transfer(response: Response) -> str:
        """The bytes' SHA-256, hashed once for both checks (a real scan is hundreds of KB)."""
        digest = hashlib.sha256(response.content).hexdigest()
        sent = response.headers.get("X-Content-SHA256", "").lower()
        if sent and digest != sent:
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
