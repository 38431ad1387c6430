"""One place that turns a platform response into data or a typed error (§2)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from httpx import Response

from connectors.platform import errors as e
from connectors.platform import safejson

_RETRIABLE_CODES = {42901, 50001, 50301}
_RESIGN_CODES = {40102, 40103}
_FATAL_CODES = {40101: e.FatalError, 40001: e.FatalError, 40301: e.RegionForbidden}


def retry_after(response: Response, data: Any = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``data.retry_after``."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    if isinstance(data, dict) and isinstance(data.get("retry_after"), (int, float)):
        return max(0.0, float(data["retry_after"]))
    return None


def _body(response: Response) -> dict[str, Any]:
    try:
        body = safejson.loads(response.content)  # bounded nesting: one deep item cannot stop the page
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        return body
    # A body cut short (dropped connection, truncated JSON) or a proxy's error page.
    raise e.RetriableError(f"unreadable answer, HTTP {response.status_code}", retry_after=retry_after(response))


def classify(response: Response) -> Any:
    """The ``data`` of a successful envelope.

    Raises:
        PlatformError: the subclass that says what to do next.
    """
    if 300 <= response.status_code < 400:
        # The platform's base URL is configured; an answer pointing elsewhere is not a new target.
        raise e.FatalError(f"HTTP {response.status_code}: the platform answered a redirect, not followed")
    body = _body(response)
    code, data = body["code"], body.get("data")
    if code == 0 and response.is_success:
        return data
    message = f"{code}: {body.get('message', '')}"
    request_id = body.get("request_id")
    if code in _RESIGN_CODES:
        raise e.ResignError(message, code, request_id, retry_after=0.0)
    if code in _RETRIABLE_CODES or (code == 0 and response.status_code >= 500):
        raise e.RetriableError(message, code, request_id, retry_after=retry_after(response, data))
    if code in _FATAL_CODES:
        raise _FATAL_CODES[code](message, code, request_id)
    if code == 40401:
        raise e.NotFound(message, code, request_id)
    if code == 40901:
        raise e.ConflictError(message, data if isinstance(data, dict) else None, code=code, request_id=request_id)
    if code == 41001:
        raise e.CursorExpired(message, code, request_id)
    if response.status_code >= 500:
        raise e.RetriableError(message, code, request_id, retry_after=retry_after(response, data))
    raise e.FatalError(message, code, request_id)
