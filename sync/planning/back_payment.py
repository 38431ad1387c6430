"""Planning 补缴 (BJ): one AC_JFJL row per year, or a hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mapping.businesses.back_payment import BackPaymentPayload
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.problems import Problem
from mapping.records import BusinessRecord
from sync.planning.common import differs, payload_of, require_active, ywlx
from sync.planning.decisions import Hold, Invalid
from sync.planning.ops import NewBusinessLog, NewPayments, Op
from sync.planning.registry import Planner, register


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold | Invalid:
    active = require_active(record, state, codes, force)
    if isinstance(active, Hold):
        return active
    payload = payload_of(record, BackPaymentPayload)
    years = tuple(sorted(set(payload.years)))
    paid = sorted(set(years) & active.paid_years)
    if paid:
        return Hold("year_already_paid", detail="、".join(map(str, paid)),
                    fields=tuple({"field": "payload.years", "platform": y, "internal": y} for y in paid))
    limit = codes.setting("rules", "maximum_back_payment_years")
    if len(active.back_paid_years) + len(years) > limit:
        return Invalid((Problem("payload.years", "too_many_years", str(limit)),))
    values = {"aaa115": codes.setting("payment", "back_payment"), "aae341": codes.setting("payment", "individual"),
              "aae022": payload.grade}
    return (NewBusinessLog(active.aac001, ywlx(record, codes), record.txn_id),
            NewPayments(active.aac001, years, values, record.txn_id))


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    """How the AC_JFJL rows of an existing back-payment differ from the platform's years and grade."""
    payload = payload_of(record, BackPaymentPayload)
    rows = state.payments_of(business.ywlsh)
    years = sorted(r.aae003 for r in rows)
    amounts = {Decimal(str(r.aae022)).quantize(Decimal("0.01")) for r in rows}
    grade = amounts.pop() if len(amounts) == 1 else None
    return (differs("payload.years", sorted(set(payload.years)), years)
            + differs("payload.grade", payload.grade, grade))


register(Planner("BJ", plan, compare))
