"""Planning 注销登记 (ZXDJ): the enrolment terminated, or a hold."""

from __future__ import annotations

from typing import Any

from mapping.businesses.cancellation import CancellationPayload
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.records import BusinessRecord
from sync.planning.common import differs, payload_of, require_active, ywlx, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, UpdateEnrolment
from sync.planning.registry import Planner, register


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold:
    active = require_active(record, state, codes, force)
    if isinstance(active, Hold):
        return active
    payload = payload_of(record, CancellationPayload)
    values = {"aac008": codes.setting("enrolment", "terminated"), "aac031": codes.setting("enrolment", "stopped"),
              "aae160": codes.map("termination_reason", payload.reason), "aic301": yyyymm(payload.effective_date)}
    enrolment = active.enrolment
    if enrolment is None:  # actively enrolled means enrolled
        return Hold("not_enrolled", detail=record.biz_type)
    return (UpdateEnrolment(enrolment.aaz159, values),
            NewBusinessLog(active.aac001, ywlx(record, codes), record.txn_id))


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    """How an existing termination differs from the platform's reason and date."""
    enrolment = state.enrolment
    payload = payload_of(record, CancellationPayload)
    return (differs("status", codes.setting("enrolment", "terminated"), enrolment.aac008 if enrolment else "")
            + differs("payload.reason", codes.map("termination_reason", payload.reason),
                      (enrolment.aae160 or None) if enrolment else None)
            + differs("payload.effective_date", yyyymm(payload.effective_date),
                      enrolment.aic301 if enrolment else None))


register(Planner("ZXDJ", plan, compare))
