"""Planning 参保登记 (CBDJ): AC01, AC02 and AC_YHZH rows, or a hold."""

from __future__ import annotations

from typing import Any

from mapping.businesses.enrolment import BankAccount, EnrolmentPayload
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.records import BusinessRecord
from mapping.text import normalise_name
from sync.planning.common import (
    differs,
    enrol_ops,
    enrolled_person_differences,
    payload_of,
    person_differences,
    ywlx,
    yyyymm,
)
from sync.planning.decisions import Hold, Invalid
from sync.planning.ops import NewBusinessLog, Op, PutBank
from sync.planning.registry import Planner, register


def bank_columns(account: BankAccount) -> dict[str, str]:
    return {"aae008": account.bank_code, "aae009": account.holder_name, "aae010": account.account_no}


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold | Invalid:
    payload = payload_of(record, EnrolmentPayload)
    grade = codes.grade_for(payload.grade, payload.enroll_date)
    if grade is None:  # validation refuses it; never write AAZ289 = NULL
        raise ValueError(f"no grade {payload.grade} on {payload.enroll_date}")
    result = enrol_ops(record, state, codes, yyyymm(payload.enroll_date), grade.grade_id, force)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    bank = PutBank(ref, bank_columns(payload.bank_account), exists=bool(state and state.bank))
    return (*ops, bank, NewBusinessLog(ref, ywlx(record, codes), record.txn_id))


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    """How the rows of an existing enrolment differ from the platform's."""
    payload = payload_of(record, EnrolmentPayload)
    enrolment = state.enrolment
    grade = codes.grade_by_id(enrolment.aaz289 if enrolment else None)
    since = enrolment.aac049 if enrolment else None
    diffs = (person_differences(record, state) + enrolled_person_differences(record, state)
             + differs("payload.grade", payload.grade, grade.amount if grade else None)
             + differs("payload.enroll_date", yyyymm(payload.enroll_date), since))
    # Everything the enrolment writes into AC_YHZH; no bank row inside differs from any account.
    bank = state.bank
    account = payload.bank_account
    holder = bank.aae009 if bank else None
    diffs += (differs("payload.bank_account.bank_code", account.bank_code, bank.aae008 if bank else None)
              + differs("payload.bank_account.account_no", account.account_no, bank.aae010 if bank else None)
              + differs("payload.bank_account.holder_name", account.holder_name,
                        normalise_name(holder) if holder is not None else None))
    return diffs


register(Planner("CBDJ", plan, compare))
