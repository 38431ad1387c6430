"""信息变更 (XXBG): changes to a person's data, each ``{field, old, new}``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from mapping.businesses.base import Business, Payload, RuleContext, grade_problem
from mapping.businesses.enrolment import BankAccount
from mapping.codes import CodeTables
from mapping.problems import Problem, from_validation_error
from mapping.records import PersonRecord
from mapping.text import digits_only, normalise_name, normalise_text
from mapping.types import parse_money

# A mobile number (11 digits from 1) or a landline with its area code (0 + 9 to 11 digits); ASCII only.
_PHONE = re.compile(r"1[0-9]{10}|0[1-9][0-9]{8,10}")
_PHONE_NOISE = re.compile(r"[()]")


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


def normalise_phone(raw: str) -> str | None:
    """A phone number in the form the internal system stores, or None when it is none.

    Accepts the common ways of typing one: ``+86 138 0013 8000``, ``0086-13800138000``,
    ``138-0013-8000``, a landline with its area code ``0871-65123456`` or ``(0871)65123456``,
    and ``+86 871 6512 3456`` (the area code without its 0 after the country code).
    """
    text = _PHONE_NOISE.sub("", digits_only(raw))
    international = False
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text, international = text[len(prefix):], True
            break
    else:
        if len(text) == 13 and text.startswith("861"):
            text, international = text[2:], True
    if international and text[:1] not in ("", "0", "1"):
        text = "0" + text  # a landline's area code loses its 0 behind +86
    return text if _PHONE.fullmatch(text) else None


def _phone(value: Any, codes: CodeTables) -> str:
    phone = normalise_phone(_text(str(value) if isinstance(value, int) else value, 30))
    if phone is None:
        raise ValueProblem([Problem("", "phone_format")])
    return phone


def _address(value: Any, codes: CodeTables) -> str:
    return normalise_text(_text(value, 200))


def _grade(value: Any, codes: CodeTables) -> Any:
    try:
        return parse_money(value)
    except Exception:
        raise ValueProblem([Problem("", "bad_money")]) from None


def _coded(table: str) -> Callable[[Any, CodeTables], str]:
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
        for i, c in enumerate(payload.changes):  # a grade not offered on the business date is no grade
            if c.field == "grade" and not any(p.field.startswith(f"payload.changes[{i}]") for p in problems):
                problems += grade_problem(convert("grade", c.new, ctx.codes), ctx.business_date, ctx.codes,
                                          f"payload.changes[{i}].new")
        repeated = [f for f, n in Counter(c.field for c in payload.changes).items() if n > 1]
        problems += [Problem("payload.changes", "change_field_repeated", f) for f in repeated]
        return problems

    def materials(self, payload: ChangePayload, codes: CodeTables) -> list[str]:
        table = codes.mapping.get("materials", {}).get(self.code, {})
        return sorted({kind for c in payload.changes for kind in table.get(c.field, [])})
