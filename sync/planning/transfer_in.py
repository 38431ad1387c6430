"""Planning 转移转入 (ZYZR): as an enrolment since the transfer, plus AC_ZYZR."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mapping.businesses.transfer_in import TransferInPayload
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.records import BusinessRecord
from sync.planning.common import differs, enrol_ops, payload_of, person_differences, ywlx, yyyymm
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, NewTransfer, Op
from sync.planning.registry import Planner, register


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold:
    payload = payload_of(record, TransferInPayload)
    # The payload carries no transfer date: the business's creation on the platform is it.
    result = enrol_ops(record, state, codes, yyyymm(record.created_at), None, force)
    if isinstance(result, Hold):
        return result
    ref, ops = result
    transfer = NewTransfer(ref, {"zcdq": payload.from_region_code, "grzhye": payload.account_balance,
                                 "jfnx": payload.paid_years, "zypzh": payload.transfer_doc_no}, record.txn_id)
    return (*ops, NewBusinessLog(ref, ywlx(record, codes), record.txn_id), transfer)


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    """How an existing transfer-in (AC_ZYZR of that business) differs from the platform's."""
    payload = payload_of(record, TransferInPayload)
    rows = state.transfers_of(business.ywlsh)
    row = rows[0] if rows else None
    balance = Decimal(str(row.grzhye)).quantize(Decimal("0.01")) if row else None
    return (person_differences(record, state)
            + differs("payload.from_region_code", payload.from_region_code, (row.zcdq or None) if row else None)
            + differs("payload.account_balance", payload.account_balance, balance)
            + differs("payload.paid_years", payload.paid_years, row.jfnx if row else None)
            + differs("payload.transfer_doc_no", payload.transfer_doc_no, row.zypzh if row else None))


register(Planner("ZYZR", plan, compare))
