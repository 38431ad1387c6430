"""Planning 参保登记 (CBDJ): AC01, AC02 and AC_YHZH rows, or a hold."""

from __future__ import annotations

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import enrol_ops, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, PutBank


def bank_columns(account) -> dict[str, str]:
    return {"aae008": account.bank_code, "aae009": account.holder_name, "aae010": account.account_no}


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables) -> tuple[Op, ...] | Hold:
    payload = record.payload
    grade = codes.grade_for(payload.grade, payload.enroll_date)
    result = enrol_ops(record, state, codes, yyyymm(payload.enroll_date), grade.grade_id)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    bank = PutBank(ref, bank_columns(payload.bank_account), exists=bool(state and state.bank))
    return (*ops, bank, NewBusinessLog(ref, codes.map("business_type", record.biz_type), record.txn_id))
