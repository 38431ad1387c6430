"""What an operator can decide about a conflict, as pure functions of the same inputs as
planning: the version, the internal view, the code tables and the ledger entry.

Each returns the decision that the same applier and ledger then carry out, in one
transaction, or raises ``Refused`` with the reason in the operator's words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mapping.codes import CodeTables
from mapping.internal import BusinessRow, InternalView, PersonState
from mapping.records import BusinessRecord
from sync.planning.decisions import AlreadyApplied, Apply, Decision, Link, Rejected
from sync.planning.ops import LinkBusinessLog, Op, UpdateEnrolment, UpdatePerson
from sync.planning.planner import Candidate, LedgerEntry, Rules, plan

AFTER_APPLY = frozenset({"withdrawn_after_apply", "changed_after_apply"})
# Fields an operator may take over from the platform into a hand-typed record before linking.
MERGEABLE = {"person.name": "aac003", "person.phone": "aae005", "person.address": "aae006"}


class Refused(Exception):
    """The resolution cannot be carried out; ``key`` and ``value`` name why (message catalogue)."""

    def __init__(self, key: str, value: str = "") -> None:
        super().__init__(f"{key}: {value}")
        self.key, self.value = key, value


@dataclass(frozen=True)
class Choice:
    """What the operator chose."""

    action: str                      # apply | link | merge | reject | return | keep
    kind: str                        # the conflict's kind
    reason: str | None = None
    ywlsh: str | None = None
    fields: tuple[str, ...] = ()


Decide = Callable[[Candidate, InternalView, CodeTables, LedgerEntry | None], Decision]


def _person(c: Candidate, view: InternalView) -> PersonState:
    record = c.validated.record
    state = view.person(record.person.id_number) if record else None
    if state is None:
        raise Refused("resolve.no_person")
    return state


def _record(c: Candidate) -> BusinessRecord:
    """The candidate's validated record: ``_person`` has refused one without it already."""
    if c.validated.record is None:
        raise Refused("resolve.no_person")
    return c.validated.record


def _candidate_row(c: Candidate, view: InternalView, codes: CodeTables, ywlsh: str | None) -> BusinessRow:
    state = _person(c, view)
    ywlx = codes.map("business_type", _record(c).biz_type)
    rows = [r for r in state.business if r.wblsh is None and r.ywlx == ywlx
            and (ywlsh is None or r.ywlsh == ywlsh)]
    if len(rows) != 1:
        raise Refused("resolve.no_candidate", ywlsh or "")
    return rows[0]


def _apply(choice: Choice) -> Decide:
    def decide(c: Candidate, view: InternalView, codes: CodeTables, entry: LedgerEntry | None) -> Decision:
        if choice.kind in AFTER_APPLY:
            raise Refused("resolve.not_for_kind", choice.action)
        if c.validated.record is None:
            raise Refused("resolve.invalid")
        decision = plan(c, view, codes, None, Rules(match=False, materials=False, force=True))
        if not isinstance(decision, Apply):
            raise Refused("resolve.still_blocked", getattr(decision, "kind", decision.state))
        return decision
    return decide


def _link(choice: Choice) -> Decide:
    def decide(c: Candidate, view: InternalView, codes: CodeTables, entry: LedgerEntry | None) -> Decision:
        if c.validated.record is None:
            raise Refused("resolve.invalid")
        row = _candidate_row(c, view, codes, choice.ywlsh)
        return Link((*_merge_ops(choice, c, view, codes), LinkBusinessLog(row.ywlsh, c.txn_id)), ywlsh=row.ywlsh)
    return decide


def _merge_ops(choice: Choice, c: Candidate, view: InternalView, codes: CodeTables) -> list[Op]:
    if choice.action != "merge":
        return []
    if not choice.fields:
        raise Refused("resolve.fields_required")
    state, record = _person(c, view), _record(c)
    ops: list[Op] = []
    for field in choice.fields:
        if field in MERGEABLE:
            ops.append(UpdatePerson(state.aac001, {MERGEABLE[field]: getattr(record.person, field.split(".")[1])}))
        elif field == "payload.grade" and state.enrolment is not None and hasattr(record.payload, "grade"):
            ops.append(UpdateEnrolment(state.enrolment.aaz159, {"aaz289": _grade_id(record, codes)}))
        else:
            raise Refused("resolve.field_not_mergeable", field)
    return ops


def _grade_id(record: BusinessRecord, codes: CodeTables) -> int:
    on = getattr(record.payload, "enroll_date", None) or record.created_at.date()
    grade = codes.grade_for(record.payload.grade, on)  # type: ignore[attr-defined]  # merged only where it has one
    if grade is None:
        raise Refused("resolve.field_not_mergeable", "payload.grade")
    return grade.grade_id


def _reject(choice: Choice) -> Decide:
    def decide(c: Candidate, view: InternalView, codes: CodeTables, entry: LedgerEntry | None) -> Decision:
        if not (choice.reason or "").strip():
            raise Refused("resolve.reason_required")
        return Rejected((choice.reason or "").strip())
    return decide


def _keep(choice: Choice) -> Decide:
    def decide(c: Candidate, view: InternalView, codes: CodeTables, entry: LedgerEntry | None) -> Decision:
        written = view.applied.get(c.txn_id)
        if choice.kind not in AFTER_APPLY or written is None:
            raise Refused("resolve.not_for_kind", choice.action)
        return AlreadyApplied(written.ywlsh)
    return decide


def applicable(kind: str) -> frozenset[str]:
    """The choices that make sense for a conflict of this kind."""
    if kind in AFTER_APPLY:
        return frozenset({"keep", "reject", "return"})
    if kind in ("double_entry_mismatch", "multiple_candidates"):
        return frozenset({"link", "merge", "apply", "reject", "return"})
    return frozenset({"apply", "reject", "return"})


ACTIONS: dict[str, Callable[[Choice], Decide]] = {
    "apply": _apply, "link": _link, "merge": _link, "reject": _reject, "return": _reject, "keep": _keep,
}


def decider(choice: Choice) -> Decide:
    if choice.action not in ACTIONS:
        raise Refused("resolve.unknown_action", choice.action)
    return ACTIONS[choice.action](choice)
