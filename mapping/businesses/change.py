"""信息变更 (XXBG): changes to a person's data, each ``{field, old, new}``."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import ValidationError

from mapping.businesses.base import Business, Payload, RuleContext
from mapping.businesses.enrolment import BankAccount
from mapping.codes import CodeTables
from mapping.problems import Problem, from_validation_error
from mapping.records import PersonRecord
from mapping.text import digits_only, normalise_name, normalise_text
from mapping.types import parse_money

_PHONE = re.compile(r"^(1\d{10}|0\d{9,11})$")


class ChangeItem(Payload):
    field: str
    old: Any = None
    new: Any = None


class ChangePayload(Payload):
    changes: list[ChangeItem]


class ValueProblem(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueProblem([Problem("", "missing")])
    if len(value) > limit:
        raise ValueProblem([Problem("", "too_long")])
    return value


def _name(value: Any, codes: CodeTables) -> str:
    return normalise_name(_text(value, 50))


def _phone(value: Any, codes: CodeTables) -> str:
    phone = digits_only(_text(str(value) if isinstance(value, int) else value, 20))
    if not _PHONE.match(phone):
        raise ValueProblem([Problem("", "phone_format")])
    return phone


def _address(value: Any, codes: CodeTables) -> str:
    return normalise_text(_text(value, 200))


def _grade(value: Any, codes: CodeTables) -> Any:
    try:
        return parse_money(value)
    except Exception:
        raise ValueProblem([Problem("", "bad_money")]) from None


def _coded(table: str):
    def convert(value: Any, codes: CodeTables) -> str:
        code = codes.map(table, _text(value, 40).strip())
        if code is None:
            raise ValueProblem([Problem("", "bad_choice", str(value))])
        return code
    return convert


def _ethnicity(value: Any, codes: CodeTables) -> str:
    code = codes.ethnicity_code(_text(value, 20))
    if code is None:
        raise ValueProblem([Problem("", "unknown_ethnicity", str(value))])
    return code


def _bank(value: Any, codes: CodeTables) -> BankAccount:
    try:
        account = BankAccount.model_validate(value)
    except ValidationError as err:
        raise ValueProblem(from_validation_error(err)) from None
    if problems := account.problems(""):
        raise ValueProblem(problems)
    return account


# field -> converter of a platform value to the value the internal system stores
CONVERTERS = {
    "name": _name, "phone": _phone, "address": _address, "grade": _grade,
    "bank_account": _bank, "hukou_type": _coded("hukou_type"), "ethnicity": _ethnicity,
}


def convert(field: str, value: Any, codes: CodeTables) -> Any:
    """The internal form of a changed field's value.

    Raises:
        ValueProblem: the value is not valid for that field.
    """
    return CONVERTERS[field](value, codes)


def _item_problems(index: int, item: ChangeItem, codes: CodeTables) -> list[Problem]:
    where = f"payload.changes[{index}]"
    if item.field not in CONVERTERS:
        return [Problem(f"{where}.field", "change_field_unknown", item.field)]
    try:
        convert(item.field, item.new, codes)
    except ValueProblem as err:
        return [Problem(f"{where}.new{p.field and '.' + p.field.lstrip('.')}", p.code, p.value)
                for p in err.problems]
    return []


class Change(Business):
    code = "XXBG"
    payload_model = ChangePayload

    def rules(self, payload: ChangePayload, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        if not payload.changes:
            return [Problem("payload.changes", "changes_empty")]
        problems = [p for i, c in enumerate(payload.changes) for p in _item_problems(i, c, ctx.codes)]
        repeated = [f for f, n in Counter(c.field for c in payload.changes).items() if n > 1]
        problems += [Problem("payload.changes", "change_field_repeated", f) for f in repeated]
        return problems

    def materials(self, payload: ChangePayload, codes: CodeTables) -> list[str]:
        table = codes.mapping.get("materials", {}).get(self.code, {})
        return sorted({kind for c in payload.changes for kind in table.get(c.field, [])})
