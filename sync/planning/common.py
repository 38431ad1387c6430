"""Helpers shared by the business planners: person columns, enrolment checks."""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel

from mapping.codes import CodeTables
from mapping.internal import PersonState
from mapping.records import BusinessRecord, PersonRecord
from mapping.text import normalise_name
from sync.planning.decisions import Hold
from sync.planning.ops import (
    NewEnrolment,
    NewPerson,
    Op,
    UpdateEnrolment,
    UpdatePerson,
    new_ref,
)

P = TypeVar("P", bound=BaseModel)


def person_columns(person: PersonRecord) -> dict[str, Any]:
    """AC01 columns of a validated person (without AAC001, AAB301, AAE011, AAE036)."""
    return {"aac002": person.id_number, "aac003": person.name, "aac004": person.sex, "aac005": person.ethnicity,
            "aac006": int(person.birth_date.strftime("%Y%m%d")), "aac009": person.hukou,
            "aae005": person.phone, "aae006": person.address}


def yyyymm(value: date) -> int:
    return value.year * 100 + value.month


def require_active(record: BusinessRecord, state: PersonState | None, codes: CodeTables,
                   force: bool = False) -> PersonState | Hold:
    """The person, when actively enrolled in the business's region, or why not: back-payment,
    change and cancellation need one."""
    if state is None or not state.actively_enrolled(codes.setting("enrolment", "active")):
        return Hold("not_enrolled", detail=record.biz_type)
    return state if force else (region_mismatch(record, state) or state)


def payload_of(record: BusinessRecord, model: type[P]) -> P:
    """The record's payload as its type's model (validation built it so).

    Raises:
        TypeError: the record is of another type than the planner asking.
    """
    if not isinstance(record.payload, model):
        raise TypeError(f"{record.biz_type}: payload {type(record.payload).__name__}, not {model.__name__}")
    return record.payload


def region_mismatch(record: BusinessRecord, state: PersonState) -> Hold | None:
    """A business entered for another region than the person's (AC01.AAB301) waits for an operator:
    an agent may only do business of their own village's people."""
    home = state.person.aab301 or ""
    if home and not home.startswith(record.region_code):
        return Hold("region_mismatch", detail=f"{record.region_code}/{home}",
                    fields=({"field": "region_code", "platform": record.region_code, "internal": home},))
    return None


def _deceased(state: PersonState, codes: CodeTables) -> bool:
    enrolment = state.enrolment
    return (enrolment is not None and enrolment.aac008 == codes.setting("enrolment", "terminated")
            and enrolment.aae160 == codes.map("termination_reason", "death"))


def _rows(state: PersonState) -> tuple[dict[str, Any], ...]:
    """The person and their enrolment, as a conflict shows them."""
    return (state.person._asdict(), state.enrolment._asdict() if state.enrolment else {})


def enrol_ops(record: BusinessRecord, state: PersonState | None, codes: CodeTables,
              since: int, grade_id: int | None, force: bool = False) -> tuple[str, list[Op]] | Hold:
    """AC01 and AC02 rows of an enrolment or transfer-in; returns the person reference and ops."""
    active = codes.setting("enrolment", "active")
    if state is not None and state.actively_enrolled(active):
        return Hold("already_enrolled", rows=_rows(state))
    if state is not None and (elsewhere := state.covered_elsewhere(active)):
        # domain.md: not covered by employee or civil-service pension (any other AAE140).
        return Hold("other_pension_active", detail="、".join(str(r.aae140) for r in elsewhere),
                    rows=(state.person._asdict(), *(r._asdict() for r in elsewhere)))
    if state is not None and not force and _deceased(state, codes):  # an operator checks the death record
        return Hold("deceased", rows=_rows(state))
    enrolment = {"aae140": codes.setting("insurance", "aae140"), "aac008": codes.setting("enrolment", "active"),
                 "aac031": codes.setting("enrolment", "paying"), "aac049": since,
                 "aac066": codes.setting("insurance", "aac066"), "aaz289": grade_id, "aae160": None, "aic301": None}
    columns = person_columns(record.person)
    if state is None:
        ref = new_ref(record.txn_id)
        return ref, [NewPerson(ref, record.region_code, columns), NewEnrolment(ref, enrolment)]
    # Absent is not "clear it": a phone or address the platform does not send keeps what is known.
    present = {k: v for k, v in columns.items() if v is not None}
    ops: list[Op] = [UpdatePerson(state.aac001, {**present, "aab301": record.region_code})]
    if state.enrolment is None:
        ops.append(NewEnrolment(state.aac001, enrolment))
    else:
        ops.append(UpdateEnrolment(state.enrolment.aaz159, enrolment))
    return state.aac001, ops


def differs(field: str, platform: Any, internal: Any) -> list[dict[str, Any]]:
    """A one-item list describing the difference, or nothing when the values agree."""
    if platform == internal:
        return []
    return [{"field": field, "platform": shown(platform), "internal": shown(internal)}]


def shown(value: Any) -> str | None:
    """A value as a difference shows it: text, or None."""
    return str(value) if value is not None else None


def person_differences(record: BusinessRecord, state: PersonState) -> list[dict[str, Any]]:
    """Who the hand-typed rows are about, against who the platform says."""
    p, r = state.person, record.person
    return (differs("person.name", r.name, normalise_name(p.aac003) if p.aac003 is not None else None)
            + differs("person.gender", r.sex, p.aac004)
            + differs("person.birth_date", int(r.birth_date.strftime("%Y%m%d")), p.aac006))


def enrolled_person_differences(record: BusinessRecord, state: PersonState) -> list[dict[str, Any]]:
    """The rest of what an enrolment writes into AC01: village, household type and ethnicity."""
    p, r = state.person, record.person
    return (differs("region_code", record.region_code, p.aab301)
            + differs("person.hukou_type", r.hukou, p.aac009)
            + differs("person.ethnicity", r.ethnicity, p.aac005))


def ywlx(record: BusinessRecord, codes: CodeTables) -> str:
    """The AA10 YWLX of the record's business (start-up refused a type without one)."""
    value = codes.ywlx(record.biz_type)
    if value is None:
        raise ValueError(f"business type {record.biz_type} has no YWLX")
    return value
