"""Planning 参保登记 (CBDJ): AC01, AC02 and AC_YHZH rows, or a hold."""

from __future__ import annotations

from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import differs, enrol_ops, person_differences, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, PutBank


def bank_columns(account) -> dict[str, str]:
    return {"aae008": account.bank_code, "aae009": account.holder_name, "aae010": account.account_no}


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False) -> tuple[Op, ...] | Hold:
    payload = record.payload
    grade = codes.grade_for(payload.grade, payload.enroll_date)
    result = enrol_ops(record, state, codes, yyyymm(payload.enroll_date), grade.grade_id)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    bank = PutBank(ref, bank_columns(payload.bank_account), exists=bool(state and state.bank))
    return (*ops, bank, NewBusinessLog(ref, codes.map("business_type", record.biz_type), record.txn_id))


def compare(record: BusinessRecord, business: dict, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """How the rows of an existing enrolment differ from the platform's."""
    payload = record.payload
    grade = codes.grade_by_id((state.enrolment or {}).get("aaz289"))
    diffs = person_differences(record, state) + differs("payload.grade", payload.grade, grade.amount if grade else None)
    if state.bank is not None:
        diffs += differs("payload.bank_account.account_no", payload.bank_account.account_no, state.bank["aae010"])
    return diffs
