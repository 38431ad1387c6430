"""转移转入 (ZYZR): a person's enrolment transferred in from another region."""

from __future__ import annotations

from pydantic import Field

from mapping.businesses.base import Business, Payload, RuleContext, minimum_age_problem
from mapping.problems import Problem
from mapping.records import PersonRecord
from mapping.text import is_ascii_digits
from mapping.types import DigitCode, Money


class TransferInPayload(Payload):
    from_region_code: DigitCode
    account_balance: Money
    paid_years: int = Field(ge=0, le=80)
    transfer_doc_no: str = Field(min_length=1, max_length=40)


class TransferIn(Business):
    code = "ZYZR"
    payload_model = TransferInPayload
    creates_person = True

    def rules(self, payload: TransferInPayload, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        problems = minimum_age_problem(person, ctx.business_date, ctx.codes, "person.birth_date")
        code = payload.from_region_code
        if len(code) not in (6, 12) or not is_ascii_digits(code):
            problems.append(Problem("payload.from_region_code", "region_format", payload.from_region_code))
        return problems
