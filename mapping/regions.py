"""The regions a deployment serves: code prefixes and a versioned table of villages."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from config import data_path
from mapping.text import is_ascii_digits

_LENGTHS = (6, 9, 12)


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    valid_from: date
    valid_to: date


@dataclass(frozen=True)
class Regions:
    """Served prefixes (``BRIDGE_REGIONS``) and the known region codes with names."""

    prefixes: tuple[str, ...]
    table: dict[str, Region]

    def problem(self, code: str, on: date) -> str | None:
        """Why ``code`` cannot be used on ``on``, as a problem code; None when fine."""
        if len(code) not in _LENGTHS or not is_ascii_digits(code):
            return "region_format"
        if self.prefixes and not code.startswith(self.prefixes):
            return "region_not_served"
        if len(code) == 12 and self.table:
            region = self.table.get(code)
            if region is None and self.unlisted(code, on):
                return None  # held for an operator by planning, not sent back to the agent
            if region is None or not region.valid_from <= on <= region.valid_to:
                return "region_unknown"
        return None

    def unlisted(self, code: str, on: date) -> bool:
        """A village code missing from the table although its county is served and known on ``on``:
        the table may lag behind this year's new codes, so an operator decides, not the agent."""
        if len(code) != 12 or not self.table or code in self.table:
            return False
        county = self.table.get(code[:6])
        return county is not None and county.valid_from <= on <= county.valid_to

    def name(self, code: str) -> str:
        """The most precise known name of a code or its prefixes."""
        for length in (12, 9, 6, 4, 2):
            region = self.table.get(code[:length])
            if region:
                return region.name
        return code


def load_table(paths: list[Path]) -> dict[str, Region]:
    """Regions from CSV files with columns code,name,valid_from,valid_to."""
    table: dict[str, Region] = {}
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                table[row["code"]] = Region(row["code"], row["name"],
                                            date.fromisoformat(row["valid_from"]),
                                            date.fromisoformat(row["valid_to"]))
    return table


def shipped_tables() -> list[Path]:
    return sorted(data_path("regions").glob("*.csv"))


def load(prefixes: tuple[str, ...], extra: list[Path] | None = None) -> Regions:
    return Regions(prefixes, load_table(shipped_tables() + list(extra or [])))
