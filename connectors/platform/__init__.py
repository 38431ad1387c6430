"""Client of the platform's open API (../shared/contracts/platform-api.md)."""

from connectors.platform.client import PlatformClient
from connectors.platform.errors import (
    ConflictError,
    CursorExpired,
    FatalError,
    NotFound,
    PlatformError,
    RegionForbidden,
    RetriableError,
    RetryBudgetExhausted,
)

__all__ = ["PlatformClient", "PlatformError", "RetriableError", "FatalError", "NotFound",
           "ConflictError", "CursorExpired", "RegionForbidden", "RetryBudgetExhausted"]
