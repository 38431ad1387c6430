"""Errors of the platform API, classified once (platform-api.md §2).

Exception tree::

    PlatformError
    ├── RetriableError          50001, 50301, 42901, 5xx, timeouts, dropped connections
    │   ├── ResignError         40102 timestamp window, 40103 nonce reused
    │   └── DeadlineExceeded    the whole request took longer than its deadline (a trickling server)
    ├── FatalError              40101 bad key or signature, 40001 invalid parameter, bad answers
    │   ├── RegionForbidden     40301 key not permitted for the region
    │   ├── Unconfigured        the client's first request says the settings are wrong (``first_check``)
    │   └── ResponseTooLarge    a JSON answer longer than its cap: never retried as is
    ├── NotFound                40401
    ├── ConflictError           40901 a newer version or a withdrawal exists
    ├── CursorExpired           41001 restart from the last committed checkpoint
    └── RetryBudgetExhausted    the run's retries are spent: the platform is down
"""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    """Any failure talking to the platform."""

    def __init__(self, message: str, code: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class RetriableError(PlatformError):
    """Worth trying again, after ``retry_after`` seconds when the platform said so."""

    def __init__(self, message: str, code: int | None = None, request_id: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code, request_id)
        self.retry_after = retry_after


class ResignError(RetriableError):
    """Sign again with a fresh timestamp and nonce, then retry at once."""


class DeadlineExceeded(RetriableError):
    """The request was not over by its deadline: a transient fault, retried within the budget."""


class FatalError(PlatformError):
    """Retrying cannot help: configuration or request error."""


class ResponseTooLarge(FatalError):
    """A JSON answer longer than the cap for its kind; nothing of it is kept."""


class Unconfigured(FatalError):
    """The client's first request failed in a way its ``first_check`` names as a setting's fault
    (a refused connection, a wrong key or path): the message is that check's line. Never retried."""


class RegionForbidden(FatalError):
    """The app key may not read this region: skip it and report it."""


class NotFound(PlatformError):
    pass


class ConflictError(PlatformError):
    """The transaction has a newer version, or was withdrawn (§6)."""

    def __init__(self, message: str, data: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        data = data or {}
        self.current_version = data.get("current_version")
        self.status = data.get("status")


class CursorExpired(PlatformError):
    pass


class RetryBudgetExhausted(PlatformError):
    """The run spent its retry budget: end cleanly, resume next run."""
