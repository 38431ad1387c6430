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
from mapping.types import DigitCode, LocalDateTime

TEXT_LIMIT = 2000  # no field of the contract is longer; anything past it is an attack or a bug


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, str_max_length=TEXT_LIMIT)


class Agent(WireModel):
    agent_id: str | None = None
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
    attachment_id: str
    kind: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None


class Transaction(WireModel):
    """A full snapshot of one platform transaction version."""

    txn_id: str = Field(min_length=1, max_length=40)
    version: int = Field(ge=1)
    biz_type: str | None = None
    status: str | None = None
    seal_status: str | None = None
    created_at: LocalDateTime | None = None
    updated_at: LocalDateTime
    region_code: DigitCode | None = None
    agent: Agent = Field(default_factory=Agent)
    person: Person = Field(default_factory=Person)
    payload: dict[str, Any] | None = None
    attachments: list[Attachment] = Field(default_factory=list)
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
    """The wire model of one feed item.

    Raises:
        WireError: with every problem pydantic found, each naming its field.
    """
    if not isinstance(raw, dict):
        raise WireError([Problem("txn_id", "missing_identity")])
    try:
        return Transaction.model_validate(raw)
    except ValidationError as err:
        raise WireError(from_validation_error(err)) from None


def identity(raw: Any) -> tuple[str, int] | None:
    """``(txn_id, version)`` of a raw item when both are usable, else None."""
    if not isinstance(raw, dict):
        return None
    txn_id, version = raw.get("txn_id"), raw.get("version")
    if not isinstance(txn_id, str) or not txn_id.strip() or len(txn_id) > 40:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return None
    return txn_id, version


def content_hash(raw: dict[str, Any]) -> str:
    """SHA-256 of a snapshot without its status fields: equal for a write-back echo."""
    business = {k: v for k, v in raw.items() if k not in STATUS_FIELDS}
    blob = json.dumps(business, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def canonical_json(raw: Any) -> str:
    """Stable JSON text for storage and hashing."""
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
