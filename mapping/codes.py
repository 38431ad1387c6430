"""Code tables: AA10 codes and AA18 grades of the internal database plus ``config/codes.toml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from config import load_toml
from mapping.text import halfwidth


@dataclass(frozen=True)
class Grade:
    """A contribution grade (AA18) with its validity period (yyyymm, inclusive)."""

    grade_id: int
    amount: Decimal
    valid_from: int
    valid_to: int
    active: bool

    def covers(self, on: date) -> bool:
        month = on.year * 100 + on.month
        return self.active and self.valid_from <= month <= self.valid_to


@dataclass(frozen=True)
class CodeTables:
    """Everything coded that mapping needs, loaded once per run."""

    aa10: dict[tuple[str, str], str]
    grades: tuple[Grade, ...]
    mapping: dict[str, Any] = field(default_factory=lambda: shipped_mapping())

    def name(self, code_type: str, value: str) -> str | None:
        return self.aa10.get((code_type, value))

    def ethnicity_code(self, name: str) -> str | None:
        """AAC005 code for an ethnicity typed as ``汉族``, ``汉`` or the code itself."""
        wanted = halfwidth(name).strip()
        for (kind, value), label in self.aa10.items():
            if kind == "AAC005" and wanted in (label, label.removesuffix("族"), value):
                return value
        return None

    def grade_for(self, amount: Decimal, on: date) -> Grade | None:
        """The valid grade of that amount on that day."""
        return next((g for g in self.grades if g.amount == amount and g.covers(on)), None)

    def grade_by_id(self, grade_id: int | None) -> Grade | None:
        return next((g for g in self.grades if g.grade_id == grade_id), None)

    def map(self, table: str, key: str) -> str | None:
        """A platform code in one of ``codes.toml``'s tables, mapped to the internal code."""
        value = self.mapping.get(table, {}).get(key)
        return None if value is None else str(value)

    def setting(self, table: str, key: str) -> Any:
        return self.mapping[table][key]

    def ywlx(self, biz_type: str) -> str | None:
        """The AA10 ``YWLX`` of a business type's ``AE_YWJL`` rows: ``codes.toml``'s, else its entry's."""
        from mapping.businesses.registry import get  # the registry's rules import this module

        entry = get(biz_type)
        return self.map("business_type", biz_type) or (entry.ywlx if entry else None)


def shipped_mapping() -> dict[str, Any]:
    """``codes.toml``, its ``[business_type]`` over the YWLX that registered types name themselves."""
    from mapping.businesses.registry import ywlx_defaults  # the registry's rules import this module

    shipped = load_toml("codes.toml")
    return {**shipped, "business_type": {**ywlx_defaults(), **shipped.get("business_type", {})}}


def code(table: str, name: str) -> str:
    """A code value of ``config/codes.toml`` (AAE016 review, QZZT seal, ...) for modules that hold
    no ``CodeTables``: the same values ``CodeTables.setting`` reads."""
    return str(load_toml("codes.toml")[table][name])


def grades_from_rows(rows: list[dict[str, Any]]) -> tuple[Grade, ...]:
    """AA18 rows (lower-case column names) as grades."""
    return tuple(
        Grade(int(r["aaz289"]), Decimal(str(r["eaa007"])).quantize(Decimal("0.01")),
              int(r["aae041"]), int(r["aae042"]), str(r["aae100"]) == "1")
        for r in rows
    )
