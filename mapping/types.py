"""Field types of the platform contract (§3): local times, dates, money, codes."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from mapping.text import digits_only, fold_width

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
PLATFORM_TZ = ZoneInfo("Asia/Shanghai")
_MONEY = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")  # ASCII digits only: \d takes ٣ and ३ too
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The contract's own form of a local time, in ASCII digits: such stamps also sort as text.
PLAIN_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
INTERNAL_FORMAT = "%Y%m%d%H%M%S"  # the internal system's times (AAE036, AAE015)
# Shapes of the platform's identifiers and hashes. Each is checked before anything uses the value:
# an attachment's hash names a file in the scan store, an id becomes a URL path segment.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PLATFORM_ID = re.compile(r"[A-Za-z0-9_-]{1,60}")  # pb_attachment.attachment_id is 60 long
TXN_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # AE_YWJL.WBLSH is varchar(40)
TOKEN = re.compile(r"[a-z][a-z0-9_]{0,39}")  # enumerated values: kinds, statuses, business types
MEDIA_TYPE = re.compile(r"(?=.{3,40}$)[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


def _error(code: str) -> PydanticCustomError:
    return PydanticCustomError(f"pb_{code}", code)


def platform_time(value: Any) -> str | None:
    """An internal time (yyyymmddhhmmss, or a datetime) as the platform writes times; None when
    it is not one."""
    if isinstance(value, datetime):
        return value.strftime(LOCAL_FORMAT)
    raw = str(value or "")
    try:
        if len(raw) == 14 and raw.isdigit():  # the common form, without strptime's cost (a tenth of the scan)
            datetime(int(raw[:4]), int(raw[4:6]), int(raw[6:8]), int(raw[8:10]), int(raw[10:12]), int(raw[12:]))
            return f"{raw[:4]}-{raw[4:6]}-{raw[6:8]} {raw[8:10]}:{raw[10:12]}:{raw[12:]}"
        return datetime.strptime(raw, INTERNAL_FORMAT).strftime(LOCAL_FORMAT)
    except ValueError:
        return None


def parse_local_datetime(value: Any) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai local time, kept naive as the contract sends it."""
    if isinstance(value, datetime):
        return value
    try:
        if isinstance(value, str) and PLAIN_LOCAL.fullmatch(value):
            # The contract's own form, as nearly every value comes: strptime costs ten times more.
            return datetime.fromisoformat(value)
        text = fold_width(str(value)).strip()
        if not text.isascii():  # strptime reads any script's digits as digits
            raise ValueError(text)
        return datetime.strptime(text, LOCAL_FORMAT)
    except ValueError:
        raise _error("bad_datetime") from None


def parse_date(value: Any) -> date:
    """``YYYY-MM-DD``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = fold_width(str(value)).strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise _error("bad_date") from None


def parse_money(value: Any) -> Decimal:
    """Yuan as a decimal string (``"300.00"``); integers are accepted, floats never."""
    if isinstance(value, bool) or isinstance(value, float):
        raise _error("bad_money")
    text = fold_width(str(value)).strip()
    if not _MONEY.fullmatch(text):
        raise _error("bad_money")
    return Decimal(text).quantize(Decimal("0.01"))


def parse_code(value: Any) -> str:
    """A numeric code typed with spaces or full-width digits (region codes)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PydanticCustomError("string_type", "code")
    return digits_only(str(value)) if str(value).strip() else ""


def _shaped(pattern: re.Pattern[str], code: str, fold: bool = False, exact: bool = False) -> Any:
    """``exact``: an identifier, read as sent. Stripping it would make another value of it: a
    transaction ``RH…01`` followed by an ideographic space is not ``RH…01``."""
    def check(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _error(code)
        text = value if exact else value.strip().lower() if fold else value.strip()
        if not pattern.fullmatch(text):
            raise _error(code)
        return text
    return check


def now_local() -> datetime:
    """The current time as the platform and the internal system write it: Shanghai, naive."""
    return datetime.now(PLATFORM_TZ).replace(tzinfo=None, microsecond=0)


def format_money(amount: Decimal) -> str:
    return f"{amount:.2f}"


LocalDateTime = Annotated[datetime, BeforeValidator(parse_local_datetime)]
LocalDate = Annotated[date, BeforeValidator(parse_date)]
Money = Annotated[Decimal, BeforeValidator(parse_money)]
DigitCode = Annotated[str, BeforeValidator(parse_code)]
Sha256Hex = Annotated[str, BeforeValidator(_shaped(SHA256_HEX, "bad_sha256", fold=True))]
PlatformId = Annotated[str, BeforeValidator(_shaped(PLATFORM_ID, "bad_id", exact=True))]
TxnId = Annotated[str, BeforeValidator(_shaped(TXN_ID, "bad_id", exact=True))]
Token = Annotated[str, BeforeValidator(_shaped(TOKEN, "bad_choice"))]
MediaType = Annotated[str, BeforeValidator(_shaped(MEDIA_TYPE, "bad_choice", fold=True))]
