"""Planning 转移转入 (ZYZR): as an enrolment since the transfer, plus AC_ZYZR."""

from __future__ import annotations

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import enrol_ops, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, NewTransfer, Op


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables) -> tuple[Op, ...] | Hold:
    payload = record.payload
    # The payload carries no transfer date: the business's creation on the platform is it.
    result = enrol_ops(record, state, codes, yyyymm(record.created_at), None)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    transfer = NewTransfer(ref, {"zcdq": payload.from_region_code, "grzhye": payload.account_balance,
                                 "jfnx": payload.paid_years, "zypzh": payload.transfer_doc_no})
    return (*ops, NewBusinessLog(ref, codes.map("business_type", record.biz_type), record.txn_id), transfer)
