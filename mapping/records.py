"""The validated, normalised business record: what planning works on.

Values here are already in internal codes (sex ``1``/``2``, AAC005 ethnicity, AAC009
household type) and normalised (ID number upper-case, names folded), so comparing a
record with internal rows compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class PersonRecord:
    id_number: str
    name: str
    birth_date: date
    sex: str | None = None
    ethnicity: str | None = None
    hukou: str | None = None
    phone: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class BusinessRecord:
    """One valid platform transaction version, ready for planning."""

    txn_id: str
    version: int
    biz_type: str
    status: str
    created_at: datetime
    updated_at: datetime
    region_code: str
    agent_id: str
    agent_name: str
    person: PersonRecord
    payload: BaseModel
    content_hash: str
    missing_materials: tuple[str, ...] = ()
    attachments: tuple[dict[str, Any], ...] = field(default=())
    notes: tuple[str, ...] = ()  # optional fields left out because they could not be read
    region_listed: bool = True   # False: a village of a served county missing from the region table

    @property
    def operator(self) -> str:
        """AAE011 for rows written by sync: ``姓名(agent_id)``."""
        return f"{self.agent_name}({self.agent_id})"

    @property
    def withdrawn(self) -> bool:
        return self.status == "withdrawn"
