"""Wire transaction -> validated business record, or every problem it has.

``validate`` never raises on bad input: it returns all problems of a record at once,
each naming its field, so an agent can correct everything in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from mapping import idcard
from mapping.businesses import registry
from mapping.businesses.base import Business, RuleContext
from mapping.businesses.change import ValueProblem, convert
from mapping.codes import CodeTables
from mapping.problems import Problem, from_validation_error
from mapping.records import BusinessRecord, PersonRecord
from mapping.regions import Regions
from mapping.text import normalise_name, normalise_text
from mapping.wire import Transaction

STATUSES = frozenset({"submitted", "withdrawn", "accepted", "completed", "rejected"})


@dataclass(frozen=True)
class Context:
    """What validation consults: code tables, regions served and the run's date."""

    codes: CodeTables
    regions: Regions
    today: date


@dataclass(frozen=True)
class Validated:
    """The outcome: a record, or the problems that make it invalid."""

    record: BusinessRecord | None
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()  # what was left out of a valid record, and why


def _required(value: Any, field: str, problems: list[Problem]) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(field, "missing"))
        return None
    return value


def _id_number(raw: str | None, problems: list[Problem]) -> idcard.IdNumber | None:
    if _required(raw, "person.id_number", problems) is None or raw is None:
        return None
    try:
        return idcard.parse(raw)
    except idcard.IdNumberError as err:
        problems.append(Problem("person.id_number", err.code, idcard.normalise(raw)[:20]))
        return None


def _sex(gender: str | None, number: idcard.IdNumber, codes: CodeTables, problems: list[Problem]) -> str:
    derived = str(codes.setting("gender", "M" if number.male else "F"))
    if gender is None or not gender.strip():
        return derived
    mapped = codes.map("gender", gender.strip().upper())
    if mapped is None:
        problems.append(Problem("person.gender", "bad_choice", gender))
    elif mapped != derived:
        problems.append(Problem("person.gender", "gender_mismatch", gender))
    return derived


def _birth_date(raw: str | None, number: idcard.IdNumber, problems: list[Problem]) -> None:
    if raw is None or not raw.strip():
        return
    try:
        given = date.fromisoformat(raw.strip())
    except ValueError:
        problems.append(Problem("person.birth_date", "bad_date", raw))
        return
    if given != number.birth_date:
        problems.append(Problem("person.birth_date", "birth_date_mismatch", raw))


def _optional(field: str, value: str | None, codes: CodeTables, problems: list[Problem]) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return str(convert(field, value, codes))
    except ValueProblem as err:
        problems.extend(Problem(f"person.{field}", p.code, p.value) for p in err.problems)
        return None


# Person fields the contract lets an agent leave out and no business needs: one that cannot be
# read is left out with a note (the business goes on without it) instead of rejecting the business.
DROPPABLE = frozenset({"phone"})


def _person(txn: Transaction, business: Business, codes: CodeTables, problems: list[Problem],
            notes: list[Problem]) -> PersonRecord | None:
    wire = txn.person
    number = _id_number(wire.id_number, problems)
    name = _required(wire.name, "person.name", problems)
    if business.creates_person:
        for field in ("ethnicity", "hukou_type"):
            _required(getattr(wire, field), f"person.{field}", problems)
    values = {f: _optional(f, getattr(wire, f), codes, notes if f in DROPPABLE else problems)
              for f in ("name", "phone", "ethnicity", "hukou_type")}
    address = normalise_text(wire.address)[:200] if wire.address else None
    if number is None or name is None:
        return None
    sex = _sex(wire.gender, number, codes, problems)
    _birth_date(wire.birth_date, number, problems)
    return PersonRecord(id_number=number.value, name=values["name"] or normalise_name(name),
                        birth_date=number.birth_date, sex=sex, ethnicity=values["ethnicity"],
                        hukou=values["hukou_type"], phone=values["phone"], address=address)


def _envelope(txn: Transaction, ctx: Context, problems: list[Problem]) -> Business | None:
    entry = registry.get(txn.biz_type or "")
    business = entry.rules if entry is not None else None
    if business is None:
        problems.append(Problem("biz_type", "unknown_biz_type" if txn.biz_type else "missing", txn.biz_type))
    if txn.status not in STATUSES:
        problems.append(Problem("status", "bad_choice" if txn.status else "missing", txn.status))
    _required(txn.created_at, "created_at", problems)
    for field in ("agent_id", "name"):
        _required(getattr(txn.agent, field), f"agent.{field}", problems)
    return business


def _region(txn: Transaction, business: Business | None, ctx: Context, problems: list[Problem]) -> None:
    code = _required(txn.region_code, "region_code", problems)
    if code is None:
        return
    on = txn.created_at.date() if txn.created_at else ctx.today
    if problem := ctx.regions.problem(code, on):
        problems.append(Problem("region_code", problem, code))
    elif business is not None and business.creates_person and len(code) != 12:
        problems.append(Problem("region_code", "region_not_village", code))


def _payload(txn: Transaction, business: Business, problems: list[Problem]) -> Any:
    try:
        return business.payload_model.model_validate(txn.payload or {})
    except ValidationError as err:
        problems.extend(from_validation_error(err, "payload"))
        return None


@dataclass(frozen=True)
class _Envelope:
    """The envelope's fields the contract requires, once ``_envelope`` and ``_region`` found them."""

    status: str
    created_at: datetime
    region_code: str
    agent_id: str
    agent_name: str


def _present(txn: Transaction) -> _Envelope | None:
    """The required envelope fields, or None when one is absent (a problem names it already)."""
    status, created, region, agent = txn.status, txn.created_at, txn.region_code, txn.agent
    if status is None or created is None or region is None or agent.agent_id is None or agent.name is None:
        return None
    return _Envelope(status, created, region, agent.agent_id, agent.name)


def missing_materials(required: list[str], txn: Transaction, scans_ok: Mapping[str, bool]) -> tuple[str, ...]:
    """Required kinds with no attachment whose scan was fetched and matched its hash."""
    present = {a.kind for a in txn.attachments if scans_ok.get(a.attachment_id)}
    return tuple(need for need in required if not present.intersection(need.split("|")))


def validate(txn: Transaction, ctx: Context, scans_ok: Mapping[str, bool], content_hash: str) -> Validated:
    """Check one transaction version against the contract and the business rules.

    Args:
        txn: the wire model.
        ctx: code tables, regions and the run's date.
        scans_ok: attachment id -> whether its bytes were fetched and matched their hash.
        content_hash: the snapshot's hash without status fields (``wire.content_hash``).
    """
    problems: list[Problem] = []
    notes: list[Problem] = []
    business = _envelope(txn, ctx, problems)
    _region(txn, business, ctx, problems)
    if business is None:
        return Validated(None, tuple(problems))
    person = _person(txn, business, ctx.codes, problems, notes)
    payload = _payload(txn, business, problems)
    envelope = _present(txn)
    if person is None or payload is None or envelope is None or problems:
        return Validated(None, tuple(problems))
    on = envelope.created_at.date()
    problems += business.rules(payload, person, RuleContext(ctx.codes, ctx.today, on))
    if problems:
        return Validated(None, tuple(problems))
    missing = missing_materials(business.materials(payload, ctx.codes), txn, scans_ok)
    return Validated(BusinessRecord(
        txn_id=txn.txn_id, version=txn.version, biz_type=business.code, status=envelope.status,
        created_at=envelope.created_at, updated_at=txn.updated_at, region_code=envelope.region_code,
        agent_id=envelope.agent_id.strip(), agent_name=normalise_name(envelope.agent_name),
        person=person, payload=payload, content_hash=content_hash, missing_materials=missing,
        attachments=tuple(a.model_dump() for a in txn.attachments),
        notes=tuple(p.field for p in notes),
        region_listed=not ctx.regions.unlisted(envelope.region_code, on)), notes=tuple(notes))
