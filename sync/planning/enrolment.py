"""Planning 参保登记 (CBDJ): AC01, AC02 and AC_YHZH rows, or a hold."""

from __future__ import annotations

from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from mapping.text import normalise_name
from sync.planning.common import differs, enrol_ops, enrolled_person_differences, person_differences, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, PutBank


def bank_columns(account) -> dict[str, str]:
    return {"aae008": account.bank_code, "aae009": account.holder_name, "aae010": account.account_no}


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False) -> tuple[Op, ...] | Hold:
    payload = record.payload
    grade = codes.grade_for(payload.grade, payload.enroll_date)
    result = enrol_ops(record, state, codes, yyyymm(payload.enroll_date), grade.grade_id, force)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    bank = PutBank(ref, bank_columns(payload.bank_account), exists=bool(state and state.bank))
    return (*ops, bank, NewBusinessLog(ref, codes.map("business_type", record.biz_type), record.txn_id))


def compare(record: BusinessRecord, business: dict, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """How the rows of an existing enrolment differ from the platform's."""
    payload = record.payload
    enrolment = state.enrolment or {}
    grade = codes.grade_by_id(enrolment.get("aaz289"))
    since = enrolment.get("aac049")
    diffs = (person_differences(record, state) + enrolled_person_differences(record, state)
             + differs("payload.grade", payload.grade, grade.amount if grade else None)
             + differs("payload.enroll_date", yyyymm(payload.enroll_date), int(since) if since is not None else None))
    # Everything the enrolment writes into AC_YHZH; no bank row inside differs from any account.
    bank = state.bank or {}
    account = payload.bank_account
    diffs += (differs("payload.bank_account.bank_code", account.bank_code, _text(bank.get("aae008")))
              + differs("payload.bank_account.account_no", account.account_no, _text(bank.get("aae010")))
              + differs("payload.bank_account.holder_name", account.holder_name,
                        normalise_name(str(bank["aae009"])) if bank.get("aae009") is not None else None))
    return diffs


def _text(value: Any) -> str | None:
    return str(value).strip() if value is not None else None
