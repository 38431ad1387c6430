"""Planning 注销登记 (ZXDJ): the enrolment terminated, or a hold."""

from __future__ import annotations

from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import differs, require_active, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, UpdateEnrolment


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False) -> tuple[Op, ...] | Hold:
    if hold := require_active(record, state, codes, force):
        return hold
    payload = record.payload
    values = {"aac008": codes.setting("enrolment", "terminated"), "aac031": codes.setting("enrolment", "stopped"),
              "aae160": codes.map("termination_reason", payload.reason), "aic301": yyyymm(payload.effective_date)}
    return (UpdateEnrolment(state.enrolment["aaz159"], values),
            NewBusinessLog(state.aac001, codes.map("business_type", record.biz_type), record.txn_id))


def compare(record: BusinessRecord, business: dict, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """How an existing termination differs from the platform's reason and date."""
    enrolment = state.enrolment or {}
    payload = record.payload
    return (differs("status", codes.setting("enrolment", "terminated"), str(enrolment.get("aac008", "")).strip())
            + differs("payload.reason", codes.map("termination_reason", payload.reason),
                      str(enrolment.get("aae160") or "").strip() or None)
            + differs("payload.effective_date", yyyymm(payload.effective_date), enrolment.get("aic301")))
