"""参保登记 (CBDJ): enrolment of a person at the place of household registration."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from pydantic import field_validator

from mapping.businesses.base import Business, Payload, RuleContext, grade_problem, minimum_age_problem
from mapping.problems import Problem
from mapping.records import PersonRecord
from mapping.text import digits_only, normalise_name
from mapping.types import LocalDate, Money

_ACCOUNT = re.compile(r"[0-9]{8,32}")  # ASCII digits only: \d also matches other scripts


class BankAccount(Payload):
    bank_code: str
    account_no: str
    holder_name: str

    @field_validator("account_no", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        return digits_only(value) if isinstance(value, str) else value

    @field_validator("holder_name", mode="before")
    @classmethod
    def _name(cls, value: object) -> object:
        return normalise_name(value) if isinstance(value, str) else value

    def problems(self, field: str) -> list[Problem]:
        ok = _ACCOUNT.fullmatch(self.account_no)
        return [] if ok else [Problem(f"{field}.account_no", "bank_account_format")]


class EnrolmentPayload(Payload):
    grade: Money
    enroll_date: LocalDate
    bank_account: BankAccount


def enrolment_problems(grade: Decimal, on: date, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
    return (grade_problem(grade, on, ctx.codes, "payload.grade")
            + minimum_age_problem(person, on, ctx.codes, "payload.enroll_date"))


class Enrolment(Business):
    code = "CBDJ"
    payload_model = EnrolmentPayload
    creates_person = True

    def rules(self, payload: EnrolmentPayload, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        return (enrolment_problems(payload.grade, payload.enroll_date, person, ctx)
                + payload.bank_account.problems("payload.bank_account"))
