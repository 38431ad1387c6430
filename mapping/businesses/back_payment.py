"""补缴 (BJ): back-payment of past years at one grade."""

from __future__ import annotations

from collections import Counter

from mapping.businesses.base import Business, Payload, RuleContext, grade_problem
from mapping.problems import Problem
from mapping.records import PersonRecord
from mapping.types import Money, format_money


class BackPaymentPayload(Payload):
    years: list[int]
    grade: Money
    amount: Money


def _year_problems(years: list[int], person: PersonRecord, ctx: RuleContext) -> list[Problem]:
    minimum = ctx.codes.setting("rules", "minimum_age")
    problems = [Problem("payload.years", "years_duplicate", str(y)) for y, n in Counter(years).items() if n > 1]
    for i, year in enumerate(years):
        if year < person.birth_date.year + minimum:
            problems.append(Problem(f"payload.years[{i}]", "year_too_early", str(year)))
        elif year > ctx.today.year:
            problems.append(Problem(f"payload.years[{i}]", "year_in_future", str(year)))
        elif year >= ctx.business_date.year:  # this year is paid as due (AAA115 10), not back-paid
            problems.append(Problem(f"payload.years[{i}]", "year_current", str(year)))
    return problems


class BackPayment(Business):
    code = "BJ"
    payload_model = BackPaymentPayload

    def rules(self, payload: BackPaymentPayload, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        if not payload.years:
            return [Problem("payload.years", "years_empty")]
        limit = ctx.codes.setting("rules", "maximum_back_payment_years")
        problems = _year_problems(payload.years, person, ctx)
        if len(set(payload.years)) > limit:
            problems.append(Problem("payload.years", "too_many_years", str(limit)))
        problems += grade_problem(payload.grade, ctx.business_date, ctx.codes, "payload.grade")
        expected = payload.grade * len(payload.years)
        if payload.amount != expected:
            problems.append(Problem("payload.amount", "amount_mismatch", format_money(expected)))
        return problems
