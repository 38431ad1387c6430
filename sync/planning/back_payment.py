"""Planning 补缴 (BJ): one AC_JFJL row per year, or a hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.internal.view import PersonState
from mapping.codes import CodeTables
from mapping.problems import Problem
from mapping.records import BusinessRecord
from sync.planning.common import differs, require_active
from sync.planning.decisions import Hold, Invalid
from sync.planning.ops import NewBusinessLog, NewPayments, Op


def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False) -> tuple[Op, ...] | Hold | Invalid:
    if hold := require_active(record, state, codes, force):
        return hold
    years = tuple(sorted(set(record.payload.years)))
    paid = sorted(set(years) & state.paid_years)
    if paid:
        return Hold("year_already_paid", detail="、".join(map(str, paid)),
                    fields=tuple({"field": "payload.years", "platform": y, "internal": y} for y in paid))
    limit = codes.setting("rules", "maximum_back_payment_years")
    if len(state.back_paid_years) + len(years) > limit:
        return Invalid((Problem("payload.years", "too_many_years", str(limit)),))
    values = {"aaa115": codes.setting("payment", "back_payment"), "aae341": codes.setting("payment", "individual"),
              "aae022": record.payload.grade}
    return (NewBusinessLog(state.aac001, codes.map("business_type", record.biz_type), record.txn_id),
            NewPayments(state.aac001, years, values, record.txn_id))


def compare(record: BusinessRecord, business: dict, state: PersonState, codes: CodeTables) -> list[dict[str, Any]]:
    """How the AC_JFJL rows of an existing back-payment differ from the platform's years and grade."""
    rows = state.implied("payments", business["ywlsh"])
    years = sorted(int(r["aae003"]) for r in rows)
    amounts = {Decimal(str(r["aae022"])).quantize(Decimal("0.01")) for r in rows}
    grade = amounts.pop() if len(amounts) == 1 else None
    return (differs("payload.years", sorted(set(record.payload.years)), years)
            + differs("payload.grade", record.payload.grade, grade))
