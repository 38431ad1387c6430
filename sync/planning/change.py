"""Planning 信息变更 (XXBG): the changed columns, when every ``old`` still holds inside."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mapping.businesses.change import ChangePayload, ValueProblem, convert, normalise_phone
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.problems import Problem
from mapping.records import BusinessRecord
from mapping.text import digits_only, normalise_name, normalise_text
from sync.planning.common import differs, payload_of, require_active, ywlx
from sync.planning.decisions import Hold, Invalid
from sync.planning.enrolment import bank_columns
from sync.planning.ops import NewBusinessLog, Op, PutBank, UpdateEnrolment, UpdatePerson
from sync.planning.registry import Planner, register

PERSON_COLUMNS = {"name": "aac003", "phone": "aae005", "address": "aae006", "hukou_type": "aac009",
                  "ethnicity": "aac005"}
_FOLD: dict[str, Callable[[Any], Any]] = {
    "name": normalise_name, "phone": lambda v: normalise_phone(str(v)) or digits_only(str(v)),
    "address": normalise_text}


def internal_value(field: str, state: PersonState, codes: CodeTables) -> Any:
    """A field's current internal value, in the form ``convert`` gives platform values."""
    if field in PERSON_COLUMNS:
        value = getattr(state.person, PERSON_COLUMNS[field])
        return _FOLD.get(field, str)(value) if value is not None else None
    if field == "grade":
        grade = codes.grade_by_id(state.enrolment.aaz289 if state.enrolment else None)
        return grade.amount if grade else None
    bank = state.bank
    return (bank.aae008, bank.aae010, normalise_name(bank.aae009 or "")) if bank else None


def _comparable(field: str, value: Any, codes: CodeTables) -> Any:
    if value is None or value == "":
        return None
    try:
        converted = convert(field, value, codes)
    except ValueProblem:
        return value
    if field == "bank_account":
        return converted.bank_code, converted.account_no, converted.holder_name
    return converted


def stale_fields(record: BusinessRecord, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """Changes whose ``old`` no longer matches the internal record."""
    stale = []
    for change in payload_of(record, ChangePayload).changes:
        inside = internal_value(change.field, state, codes)
        if _comparable(change.field, change.old, codes) != inside:
            stale.append({"field": change.field, "platform": change.old, "internal": _show(inside)})
    return stale


def _show(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else (str(value) if value is not None else None)


def _op(field: str, new: Any, record: BusinessRecord, state: PersonState, codes: CodeTables) -> Op:
    if field in PERSON_COLUMNS:
        return UpdatePerson(state.aac001, {PERSON_COLUMNS[field]: new})
    if field == "grade":
        grade = codes.grade_for(new, record.created_at.date())
        if grade is None:  # validation refuses it; never write AAZ289 = NULL
            raise ValueError(f"no grade {new} on {record.created_at:%Y-%m-%d}")
        if state.enrolment is None:  # planned for an actively enrolled person only
            raise ValueError(f"no enrolment of {state.aac001} to change the grade of")
        return UpdateEnrolment(state.enrolment.aaz159, {"aaz289": grade.grade_id})
    return PutBank(state.aac001, bank_columns(new), exists=state.bank is not None)


def bgnr_fields(bgnr: Any) -> frozenset[str] | None:
    """The fields a change's ``BGNR`` (JSON list of ``{field, old, new}``) names; None when unreadable."""
    try:
        items = json.loads(bgnr) if isinstance(bgnr, str) else None
        fields = frozenset(str(i["field"]) for i in items) if isinstance(items, list) else None
    except (ValueError, TypeError, KeyError):
        return None
    return fields or None


def same_business(record: BusinessRecord, row: BusinessRow) -> bool:
    """Whether a hand-typed change can be this one: it changes the same fields. A counter change of
    the address is another business than a platform change of the phone, whatever its date."""
    fields = bgnr_fields(row.bgnr)
    return fields is None or fields == {c.field for c in payload_of(record, ChangePayload).changes}


def change_list(record: BusinessRecord) -> str:
    """``BGNR``: the change list as JSON."""
    items = [{"field": c.field, "old": c.old, "new": c.new} for c in payload_of(record, ChangePayload).changes]
    return json.dumps(items, ensure_ascii=False, default=str)


def grade_year_paid(record: BusinessRecord, state: PersonState) -> int | None:
    """The year whose contribution is paid already when the change of grade comes, else None.

    domain.md: a grade change takes effect next year if this year is already paid. The internal
    tables keep one current grade (AC02.AAZ289) and no future one, so such a change waits for an
    operator instead of changing this year's grade.
    """
    year = record.created_at.year
    changes_grade = any(c.field == "grade" for c in payload_of(record, ChangePayload).changes)
    return year if changes_grade and year in state.paid_years else None


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold | Invalid:
    active = require_active(record, state, codes, force)
    if isinstance(active, Hold):
        return active
    changes = payload_of(record, ChangePayload).changes
    for i, c in enumerate(changes):
        if c.field == "grade" and codes.grade_for(convert("grade", c.new, codes), record.created_at.date()) is None:
            return Invalid((Problem(f"payload.changes[{i}].new", "unknown_grade", str(c.new)),))
    if not force and (stale := stale_fields(record, active, codes)):
        return Hold("stale_change", detail="、".join(s["field"] for s in stale), fields=tuple(stale))
    if not force and (year := grade_year_paid(record, active)) is not None:
        return Hold("grade_next_year", detail=str(year))
    ops = [_op(c.field, convert(c.field, c.new, codes), record, active, codes) for c in changes]
    log = NewBusinessLog(active.aac001, ywlx(record, codes), record.txn_id, change_list(record))
    return (*ops, log)


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    """Whether the internal record already holds every new value of the change."""
    return [d for c in payload_of(record, ChangePayload).changes
            for d in differs(f"payload.changes.{c.field}", _show(_comparable(c.field, c.new, codes)),
                             _show(internal_value(c.field, state, codes)))]


register(Planner("XXBG", plan, compare, same_business))
