"""Helpers shared by the business planners: person columns, enrolment checks."""

from __future__ import annotations

from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
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


def person_columns(person: PersonRecord) -> dict[str, Any]:
    """AC01 columns of a validated person (without AAC001, AAB301, AAE011, AAE036)."""
    return {"aac002": person.id_number, "aac003": person.name, "aac004": person.sex, "aac005": person.ethnicity,
            "aac006": int(person.birth_date.strftime("%Y%m%d")), "aac009": person.hukou,
            "aae005": person.phone, "aae006": person.address}


def yyyymm(value) -> int:
    return value.year * 100 + value.month


def require_active(record: BusinessRecord, state: PersonState | None, codes: CodeTables) -> Hold | None:
    """Back-payment, change and cancellation need an actively enrolled person."""
    if state is None or not state.actively_enrolled(codes.setting("enrolment", "active")):
        return Hold("not_enrolled", detail=record.biz_type)
    return None


def enrol_ops(record: BusinessRecord, state: PersonState | None, codes: CodeTables,
              since: int, grade_id: int | None) -> tuple[str, list[Op]] | Hold:
    """AC01 and AC02 rows of an enrolment or transfer-in; returns the person reference and ops."""
    if state is not None and state.actively_enrolled(codes.setting("enrolment", "active")):
        return Hold("already_enrolled", rows=(state.person, state.enrolment or {}))
    enrolment = {"aae140": codes.setting("insurance", "aae140"), "aac008": codes.setting("enrolment", "active"),
                 "aac031": codes.setting("enrolment", "paying"), "aac049": since,
                 "aac066": codes.setting("insurance", "aac066"), "aaz289": grade_id, "aae160": None, "aic301": None}
    columns = person_columns(record.person)
    if state is None:
        ref = new_ref(record.txn_id)
        return ref, [NewPerson(ref, record.region_code, columns), NewEnrolment(ref, enrolment)]
    ops: list[Op] = [UpdatePerson(state.aac001, {**columns, "aab301": record.region_code})]
    if state.enrolment is None:
        ops.append(NewEnrolment(state.aac001, enrolment))
    else:
        ops.append(UpdateEnrolment(state.enrolment["aaz159"], enrolment))
    return state.aac001, ops


def differs(field: str, platform: Any, internal: Any) -> list[dict[str, Any]]:
    """A one-item list describing the difference, or nothing when the values agree."""
    if platform == internal:
        return []
    show = lambda v: str(v) if v is not None else None  # noqa: E731
    return [{"field": field, "platform": show(platform), "internal": show(internal)}]


def person_differences(record: BusinessRecord, state: PersonState) -> list[dict[str, Any]]:
    """Who the hand-typed rows are about, against who the platform says."""
    p, r = state.person, record.person
    return (differs("person.name", r.name, normalise_name(str(p["aac003"])))
            + differs("person.gender", r.sex, str(p["aac004"]).strip())
            + differs("person.birth_date", int(r.birth_date.strftime("%Y%m%d")), int(p["aac006"])))
