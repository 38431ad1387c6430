"""Problems found in a record: each names the field, a code and the offending value."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from config.catalogue import field_label, text

# pydantic error types -> our problem codes; anything else is a wrong type.
_PYDANTIC_CODES = {
    "missing": "missing",
    "date_from_datetime_parsing": "bad_date",
    "date_parsing": "bad_date",
    "date_type": "bad_date",
    "datetime_parsing": "bad_datetime",
    "datetime_from_date_parsing": "bad_datetime",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "literal_error": "bad_choice",
    "enum": "bad_choice",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of a record."""

    field: str
    code: str
    value: str | None = None

    def message(self) -> str:
        """The problem in one Chinese sentence, naming the field."""
        return text(f"problem.{self.code}", field=field_label(self.field), value=self.value or "")

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "code": self.code, "value": self.value, "message": self.message()}


def field_path(loc: tuple[str | int, ...], prefix: str = "") -> str:
    """A pydantic location as ``payload.years[1]``."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:60]


def from_validation_error(err: ValidationError, prefix: str = "") -> list[Problem]:
    """Every error pydantic found, as problems naming their fields."""
    problems = []
    for item in err.errors(include_url=False):
        kind = item["type"]
        code = _PYDANTIC_CODES.get(kind) or (kind if kind.startswith("pb_") else "wrong_type")
        code = code.removeprefix("pb_")
        problems.append(Problem(field_path(item["loc"], prefix), code, _short(item.get("input"))))
    return problems
