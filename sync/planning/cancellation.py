"""Planning 注销登记 (ZXDJ): the enrolment terminated, or a hold."""

from __future__ import annotations

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import require_active, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, UpdateEnrolment


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables) -> tuple[Op, ...] | Hold:
    if hold := require_active(record, state, codes):
        return hold
    payload = record.payload
    values = {"aac008": codes.setting("enrolment", "terminated"), "aac031": codes.setting("enrolment", "stopped"),
              "aae160": codes.map("termination_reason", payload.reason), "aic301": yyyymm(payload.effective_date)}
    return (UpdateEnrolment(state.enrolment["aaz159"], values),
            NewBusinessLog(state.aac001, codes.map("business_type", record.biz_type), record.txn_id))
