"""``plan``: one transaction version and the internal view -> one decision. No I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import timedelta

from config.catalogue import field_label, text
from mapping.codes import CodeTables, code
from mapping.internal import BusinessRow, InternalView
from mapping.records import BusinessRecord
from mapping.validate import Validated
from sync.planning.decisions import (
    AlreadyApplied,
    Apply,
    Decision,
    Hold,
    Invalid,
    Unchanged,
    Withdrawn,
)
from sync.planning.matching import match
from sync.planning.ops import NewBusinessLog, Op, UpdatePerson
from sync.planning.registry import planner_for

APPLIED_STATES = frozenset({"applied", "linked"})
# Person fields a later version may change on business not yet reviewed, without a person.
SAFE_PERSON_COLUMNS = {"phone": "aae005", "address": "aae006"}


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows of a transaction before this version."""

    state: str
    version: int
    applied_hash: str | None = None
    core_hash: str | None = None
    ywlsh: str | None = None
    content_hash: str | None = None  # of the latest version decided


@dataclass(frozen=True)
class Rules:
    """How planning behaves: the matching window, and what an operator chose to override."""

    window: timedelta = timedelta(days=7)
    match: bool = True          # look for business already typed in by hand
    materials: bool = True      # hold business whose required scans are missing
    force: bool = False         # the operator chose the platform version over soft checks


@dataclass(frozen=True)
class Candidate:
    """One staged version with its validation outcome."""

    txn_id: str
    version: int
    status: str | None
    content_hash: str
    validated: Validated


def core_hash(record: BusinessRecord) -> str:
    """Hash of what a business *is*: type, person and payload, without contact details."""
    core = [record.biz_type, record.person.id_number, record.payload.model_dump(mode="json")]
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()


def settled(version: int, status: str | None, content_hash: str, ledger: LedgerEntry | None) -> Unchanged | None:
    """A version the ledger has accounted for already, decided without reading the record.

    Older than what the ledger holds; or only status fields changed, and not by the agent
    withdrawing: the echo of our own write-back (or a repeat). Whatever the state, it changes
    nothing inside. The sync decides a night's echoes with this alone (issue 9).
    """
    if ledger is None:
        return None
    if version <= ledger.version and ledger.state != "pending":
        return Unchanged("older_version")
    if status != "withdrawn" and ledger.content_hash == content_hash:
        return Unchanged("same_content")
    return None


def plan(c: Candidate, view: InternalView, codes: CodeTables, ledger: LedgerEntry | None,
         rules: Rules = Rules()) -> Decision:
    """The decision for one version: apply, link, already applied, withdrawn, invalid, hold or unchanged."""
    if (done := settled(c.version, c.status, c.content_hash, ledger)) is not None:
        return done
    written = view.applied.get(c.txn_id)
    if written is not None or (ledger is not None and ledger.state in APPLIED_STATES):
        return _after_apply(c, view, ledger, written)
    if c.status == "withdrawn":
        return Withdrawn()
    record = c.validated.record
    if record is None:
        return Invalid(c.validated.problems)
    state = view.person(record.person.id_number)
    # Business typed in by hand was checked on paper at the counter: linking it comes first.
    if rules.match and (matched := match(record, state, codes, rules.window)) is not None:
        return matched
    if not rules.force and not record.region_listed:
        return Hold("region_unlisted", detail=record.region_code)
    if rules.materials and record.missing_materials:
        return Hold("materials_incomplete", detail="、".join(record.missing_materials))
    result = planner_for(record.biz_type).plan(record, state, codes, rules.force)
    return Apply(_noted(result, record)) if isinstance(result, tuple) else result


def _noted(ops: tuple[Op, ...], record: BusinessRecord) -> tuple[Op, ...]:
    """Optional fields left out of the record, told to the reviewer in the business's AAE013."""
    if not record.notes:
        return ops
    remark = text("problem.left_out", fields="、".join(field_label(f) for f in record.notes))[:500]
    return tuple(replace(op, remark=remark) if isinstance(op, NewBusinessLog) else op for op in ops)


def _after_apply(c: Candidate, view: InternalView, ledger: LedgerEntry | None,
                 written: BusinessRow | None) -> Decision:
    if c.status == "withdrawn":
        return Hold("withdrawn_after_apply", rows=(written._asdict(),) if written else ())
    if ledger is None or ledger.applied_hash is None:
        # Written inside but never recorded here: a crash between the two commits.
        if written is None:  # applied by the ledger's account, yet no row: an operator looks
            return Hold("changed_after_apply")
        return AlreadyApplied(written.ywlsh)
    if ledger.applied_hash == c.content_hash:
        return Unchanged("same_content")
    return _later_version(c, view, ledger, written)


def _later_version(c: Candidate, view: InternalView, ledger: LedgerEntry, written: BusinessRow | None) -> Decision:
    record = c.validated.record
    reviewed = written is None or written.aae016 != code("review", "pending")
    if record is None or reviewed or core_hash(record) != ledger.core_hash:
        return Hold("changed_after_apply", rows=(written._asdict(),) if written else ())
    state = view.person(record.person.id_number)
    # Only what the platform sends is written: an absent phone or address keeps what is known.
    values = {col: getattr(record.person, f) for f, col in SAFE_PERSON_COLUMNS.items()
              if getattr(record.person, f) is not None}
    if state is None:
        return Hold("changed_after_apply")
    return Apply((UpdatePerson(state.aac001, values),) if values else (), update=True)
