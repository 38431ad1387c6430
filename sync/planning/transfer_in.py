"""Planning 转移转入 (ZYZR): as an enrolment since the transfer, plus AC_ZYZR."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.records import BusinessRecord
from sync.planning.common import differs, enrol_ops, person_differences, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, NewTransfer, Op


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False) -> tuple[Op, ...] | Hold:
    payload = record.payload
    # The payload carries no transfer date: the business's creation on the platform is it.
    result = enrol_ops(record, state, codes, yyyymm(record.created_at), None, force)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    transfer = NewTransfer(ref, {"zcdq": payload.from_region_code, "grzhye": payload.account_balance,
                                 "jfnx": payload.paid_years, "zypzh": payload.transfer_doc_no}, record.txn_id)
    return (*ops, NewBusinessLog(ref, codes.map("business_type", record.biz_type), record.txn_id), transfer)


def compare(record: BusinessRecord, business: dict, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """How an existing transfer-in (AC_ZYZR of that business) differs from the platform's."""
    payload = record.payload
    rows = state.implied("transfers", business["ywlsh"])
    row = rows[0] if rows else {}
    balance = Decimal(str(row["grzhye"])).quantize(Decimal("0.01")) if row else None
    return (person_differences(record, state)
            + differs("payload.from_region_code", payload.from_region_code, str(row.get("zcdq", "")).strip() or None)
            + differs("payload.account_balance", payload.account_balance, balance)
            + differs("payload.paid_years", payload.paid_years, row.get("jfnx"))
            + differs("payload.transfer_doc_no", payload.transfer_doc_no, row.get("zypzh")))
