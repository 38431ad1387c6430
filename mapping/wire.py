"""The platform's wire format (platform-api.md §7), as lenient as real data needs.

A wire model keeps every field it does not know (``extra="allow"``), so a newer platform
release loses nothing. Types here are the contract's; business rules live in
``mapping.validate``. Everything a field can be missing is optional here, so that one
missing field yields one problem instead of a lost record.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mapping.problems import Problem, from_validation_error
from mapping.text import marked_unsafe, strip_unsafe
from mapping.types import TXN_ID as TXN_ID_SHAPE
from mapping.types import (
    DigitCode,
    LocalDateTime,
    MediaType,
    PlatformId,
    Sha256Hex,
    Token,
    TxnId,
)

TEXT_LIMIT = 2000  # no field of the contract is longer; anything past it is an attack or a bug
# No value of the contract nests deeper than a change's bank account (item > payload > changes >
# change > new > field: 6); deeper structures are cut at entry (``sanitise``) and make the record
# invalid. Keeps every later walk of a snapshot (hashing, storing, showing) shallow.
MAX_DEPTH = 10
TOO_DEEP = "[pb:too_deep]"  # the same marker as connectors.platform.safejson.TOO_DEEP
# A real snapshot is a few KB; a larger one is not stored whole (pb_txn_version.raw), only its
# identity, its size and its hash, and it is invalid.
MAX_ITEM_BYTES = 256 * 1024
DROPPED = "pb_dropped"
MAX_ATTACHMENTS = 32
MAX_VERSION = 2**31  # pb_txn_version.version is an integer column


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, str_max_length=TEXT_LIMIT)


class Agent(WireModel):
    agent_id: PlatformId | None = None
    name: str | None = None


class Person(WireModel):
    id_number: str | None = None
    name: str | None = None
    gender: str | None = None
    ethnicity: str | None = None
    birth_date: str | None = None
    phone: str | None = None
    hukou_type: str | None = None
    address: str | None = None


class Attachment(WireModel):
    """An attachment as declared. Its ``sha256`` names the scan's file once the bytes match it; its
    ``content_type`` and ``file_name`` are the agent's words, never used to serve or store a file."""

    attachment_id: PlatformId
    kind: Token | None = None
    file_name: str | None = Field(default=None, max_length=255)
    content_type: MediaType | None = None
    size: int | None = Field(default=None, ge=0, lt=2**31)
    sha256: Sha256Hex | None = None


class Transaction(WireModel):
    """A full snapshot of one platform transaction version."""

    txn_id: TxnId
    version: int = Field(ge=1, lt=MAX_VERSION)
    biz_type: str | None = Field(default=None, max_length=10)
    status: str | None = Field(default=None, max_length=20)
    seal_status: str | None = Field(default=None, max_length=20)
    created_at: LocalDateTime | None = None
    updated_at: LocalDateTime
    region_code: DigitCode | None = None
    agent: Agent = Field(default_factory=Agent)
    person: Person = Field(default_factory=Person)
    payload: dict[str, Any] | None = None
    # A business carries a few scans; a list of thousands would spend the night's request budget.
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    remarks: str | None = None


# Fields the platform changes when we write a result back (§6): a new version that differs
# only in these is the echo of our own write-back, not new business.
STATUS_FIELDS = frozenset({"version", "status", "seal_status", "updated_at"})


class WireError(ValueError):
    """A feed item that is not a Transaction; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.code}" for p in problems))
        self.problems = problems


def parse(raw: Any) -> Transaction:
    """The wire model of one feed item (as ``sanitise`` left it).

    Raises:
        WireError: with every problem pydantic found, each naming its field.
    """
    if not isinstance(raw, dict):
        raise WireError([Problem("txn_id", "missing_identity")])
    if isinstance(raw.get(DROPPED), dict):
        raise WireError([Problem("txn_id", "item_too_large", str(raw[DROPPED].get("bytes")))])
    cut = [Problem(path, "too_deep") for path in _too_deep(raw, "")]
    try:
        txn = Transaction.model_validate(raw)
    except ValidationError as err:
        raise WireError(cut + from_validation_error(err)) from None
    if cut:
        raise WireError(cut)
    return txn


def _too_deep(value: Any, path: str) -> list[str]:
    """Paths where ``sanitise`` cut a structure (the walk is at most ``MAX_DEPTH`` deep)."""
    if isinstance(value, str):
        return [path or "payload"] if value == TOO_DEEP else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _too_deep(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _too_deep(v, f"{path}[{i}]")]
    return []


def version_of(value: Any) -> int | None:
    """A version as the wire model reads it: an integer, or a string of ASCII digits (``"2"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 1 <= value < MAX_VERSION else None


def identity(raw: Any) -> tuple[str, int] | None:
    """``(txn_id, version)`` of a raw item when both are usable, else None.

    The ``txn_id`` as sent, never stripped (``RH…01`` and a space or ``\x1c`` after it are two
    values, and the second is not the first's transaction), as the wire model reads it; the
    version read as the wire model reads it, so that a record the parser accepts is never left
    without an identity (and out of the write-back) for the form of its version.
    """
    if not isinstance(raw, dict):
        return None
    txn_id, version = raw.get("txn_id"), version_of(raw.get("version"))
    if not isinstance(txn_id, str) or not TXN_ID_SHAPE.fullmatch(txn_id) or version is None:
        return None
    return txn_id, version


def sanitise(raw: Any) -> Any:
    """A feed item as the bridge keeps it: control characters gone from every string and key,
    structures deeper than ``MAX_DEPTH`` replaced by ``TOO_DEEP``, and an item larger than
    ``MAX_ITEM_BYTES`` replaced by its identity, size and hash (``DROPPED``). Deterministic, so
    the same item always hashes the same."""
    clean = _clean(raw, 0)
    if not isinstance(clean, dict):
        return clean
    size = len(canonical_json(clean).encode())
    if size <= MAX_ITEM_BYTES:
        return clean
    kept = {k: clean[k] for k in ("txn_id", "version", "updated_at", "status")
            if isinstance(clean.get(k), (str, int)) and len(str(clean[k])) <= 40}
    return {**kept, DROPPED: {"bytes": size, "sha256": hashlib.sha256(canonical_json(clean).encode()).hexdigest()}}


# Values whose exact form is their identity on the platform: one holding an unsafe character is
# not cleaned into another record's, agent's or scan's (``marked_unsafe``), and its shape then
# fails with the field named. Keys are marked the same way, so that no key becomes another by
# cleaning ({"txn_id\x00": ...} is not a second ``txn_id``).
IDENTITY_KEYS = frozenset({"txn_id", "version", "agent_id", "attachment_id", "sha256"})


def _clean(value: Any, depth: int, key: str = "") -> Any:
    if isinstance(value, str):
        return marked_unsafe(value) if key in IDENTITY_KEYS else strip_unsafe(value)
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        cleaned = {}
        for k, v in value.items():
            name = marked_unsafe(str(k))
            cleaned[name] = _clean(v, depth + 1, name)
        return cleaned
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def content_hash(raw: dict[str, Any]) -> str:
    """SHA-256 of a snapshot without its status fields: equal for a write-back echo."""
    business = {k: v for k, v in raw.items() if k not in STATUS_FIELDS}
    blob = json.dumps(business, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def sent_hash(raw: Any) -> str:
    """SHA-256 of an item as it was sent, before ``sanitise``: every character counted, a lone
    surrogate included (escaped)."""
    blob = json.dumps(raw, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def canonical_json(raw: Any) -> str:
    """Stable JSON text for storage and hashing."""
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
