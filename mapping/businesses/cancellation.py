"""注销登记 (ZXDJ): termination of an enrolment."""

from __future__ import annotations

from typing import Literal

from mapping.businesses.base import Business, Payload, RuleContext
from mapping.codes import CodeTables
from mapping.problems import Problem
from mapping.records import PersonRecord
from mapping.types import LocalDate


class CancellationPayload(Payload):
    reason: Literal["death", "employee_pension", "duplicate", "emigration"]
    effective_date: LocalDate


class Cancellation(Business):
    code = "ZXDJ"
    payload_model = CancellationPayload

    def rules(self, payload: CancellationPayload, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        if payload.effective_date > ctx.today:
            return [Problem("payload.effective_date", "future_date")]
        if payload.effective_date < person.birth_date:
            return [Problem("payload.effective_date", "bad_date", payload.effective_date.isoformat())]
        return []

    def materials(self, payload: CancellationPayload, codes: CodeTables) -> list[str]:
        return list(codes.mapping.get("materials", {}).get(self.code, {}).get(payload.reason, []))
