"""What every business type provides to validation: its payload model and its rules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from mapping.codes import CodeTables
from mapping.problems import Problem
from mapping.records import PersonRecord


class Payload(BaseModel):
    """Base of business payloads: frozen, unknown fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


@dataclass(frozen=True)
class RuleContext:
    """What business rules may consult: code tables and the date of the run."""

    codes: CodeTables
    today: date
    business_date: date


class Business(ABC):
    """One platform business type (``biz_type``)."""

    code: ClassVar[str]
    payload_model: ClassVar[type[Payload]]
    creates_person: ClassVar[bool] = False

    @abstractmethod
    def rules(self, payload: Any, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        """Business rules of domain.md that need no internal database."""

    def materials(self, payload: Any, codes: CodeTables) -> list[str]:
        """Attachment kinds required, each entry ``kind`` or ``kind|alternative``."""
        return list(codes.mapping.get("materials", {}).get(self.code, []))


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def minimum_age_problem(person: PersonRecord, on: date, codes: CodeTables, field: str) -> list[Problem]:
    minimum = codes.setting("rules", "minimum_age")
    return [] if age_on(person.birth_date, on) >= minimum else [Problem(field, "under_age", str(minimum))]


def grade_problem(amount: Any, on: date, codes: CodeTables, field: str) -> list[Problem]:
    return [] if codes.grade_for(amount, on) else [Problem(field, "unknown_grade", str(amount))]
