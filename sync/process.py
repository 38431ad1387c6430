"""Staged versions -> validated records -> decisions -> rows and ledger, one batch at a time.

Everything after the staging boundary: the same code serves ``sync`` (pages from the
feed) and, across the network gap, ``load`` (batches from files).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.internal import schema as it
from connectors.internal.reader import load_view
from mapping import idcard, wire
from mapping.codes import CodeTables
from mapping.internal import InternalView
from mapping.problems import Problem
from mapping.validate import Context, Validated, validate
from sync import checkpoint as cp
from sync import fits
from sync.applier import Applier, ConcurrentChange, Work
from sync.ledger import statistics
from sync.ledger import tables as lt
from sync.ledger.store import LedgerWriter, entries
from sync.planning.decisions import Apply, Decision, Hold, Invalid
from sync.planning.ops import Stamp, new_ref
from sync.planning.planner import (
    Candidate,
    LedgerEntry,
    Rules,
    core_hash,
    plan,
    settled,
)
from sync.scans import ScanOutcome
from sync.uow import UnitOfWork

log = structlog.get_logger(__name__)
Ledger = dict[str, LedgerEntry]  # the ledger's entries of a batch, by txn_id
Scans = dict[str, ScanOutcome]   # the batch's scan outcomes, by attachment id
MoreScans = Callable[[list["Staged"]], Scans]
# An operator's resolution (``sync.resolutions``): planned by its own pure function.
Decide = Callable[[Candidate, InternalView, CodeTables, LedgerEntry | None], Decision]
BRIDGE_OPERATOR = "pension-bridge"
MAX_REPLANS = 5
CONCURRENT_REPLANS = 2  # re-plans on a fresh view before a duplicate key is taken as one record's
REPLAN_PAUSE = 0.2
WRITTEN_INSIDE = (it.ac01, it.ac02, it.ae_ywjl, it.ac_jfjl, it.ac_yhzh, it.ac_zyzr)  # the applier's tables


@dataclass(frozen=True)
class Staged:
    """One transaction version not seen before, as it crossed the staging boundary."""

    raw: Any
    txn_id: str
    version: int
    updated_at: str
    content_hash: str
    identified: bool
    restaged: bool = False  # already in pb_txn_version: planned again (an operator's resolution)

    def row(self) -> dict[str, Any]:
        status = self.raw.get("status") if isinstance(self.raw, dict) else None
        return {"txn_id": self.txn_id, "version": self.version, "updated_at": self.updated_at,
                "status": str(status)[:20] if status is not None else None,
                "content_hash": self.content_hash, "raw": wire.canonical_json(self.raw)}


def own_scans(txn: wire.Transaction, scans: dict[str, ScanOutcome]) -> dict[str, bool]:
    """attachment id -> usable, for this transaction: fetched and matched, and with the hash this
    transaction declared. Outcomes are the batch's, by id; another record that names the same id
    with other bytes must not lend them (or its failure) to this one."""
    out = {}
    for a in txn.attachments:
        outcome = scans.get(a.attachment_id)
        out[a.attachment_id] = bool(outcome and outcome.ok and a.sha256 and outcome.sha256 == a.sha256)
    return out


def stage(raw: Any, restaged: bool = False) -> Staged:
    """A feed item as a staged version; one without a usable identity gets a synthetic one.

    This is where platform data enters: the item is kept as ``wire.sanitise`` leaves it (no control
    characters, no structure deeper than the contract's, no item larger than a real one), so
    nothing downstream — the ledger, the console, the reports, the ferry — sees the raw bytes."""
    sent, raw = raw, wire.sanitise(raw)
    ident = wire.identity(raw)
    digest = wire.content_hash(raw) if isinstance(raw, dict) else wire.content_hash({"item": raw})
    updated = str(raw.get("updated_at", ""))[:19] if isinstance(raw, dict) else ""
    if ident is None:
        # Named by what was sent: two items that differ only in the characters cleaning marks
        # or removes are two records, not one (an item cleaning left alone keeps its old name).
        named = digest if raw == sent else wire.sent_hash(sent)
        return Staged(raw, f"UNIDENTIFIED-{named[:16]}", 1, updated, digest, False, restaged)
    return Staged(raw, ident[0], ident[1], updated, digest, True, restaged)


def in_rounds(batch: list[Staged]) -> list[list[Staged]]:
    """The batch as successive batches in which no transaction comes twice, its versions oldest
    first. The contract shows a transaction once per page, as its current snapshot; a platform
    that showed an older version beside the newer would otherwise have both planned against one
    ledger view, and the batch rolled back again and again at the same page."""
    versions: dict[str, list[int]] = {}
    for s in batch:
        versions.setdefault(s.txn_id, []).append(s.version)
    if len(versions) == len(batch):
        return [batch]
    rank = {(txn_id, v): i for txn_id, vs in versions.items() for i, v in enumerate(sorted(vs))}
    return [[s for s in batch if rank[(s.txn_id, s.version)] == i] for i in range(max(rank.values()) + 1)]


def _seconds() -> dict[str, float]:
    """Seconds by phase: a Counter, whose phases not timed yet read 0, holding floats."""
    return cast(dict[str, float], Counter())


@dataclass
class Tally:
    """Counts of one run: versions pulled, decisions by business type and state."""

    pulled: int = 0
    new_versions: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=_seconds)  # wall time per phase
    cpu: dict[str, float] = field(default_factory=_seconds)  # CPU time of the whole process (all threads) per phase

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started
            self.cpu[phase] += time.process_time() - cpu

    def add(self, biz_type: str | None, decision: Decision) -> None:
        self.by_state[decision.state] += 1
        self.by_type[(biz_type or "?", decision.state)] += 1
        if isinstance(decision, Hold):  # the one decision whose state is "conflict"
            self.conflicts[decision.kind] += 1


@dataclass
class Parsed:
    staged: Staged
    candidate: Candidate
    facts: dict[str, Any]
    brief: bool = False  # not parsed: the ledger had it settled (an echo), see ``Processor.brief``


class Processor:
    """Turns staged batches into committed decisions."""

    def __init__(self, internal: Engine, state: Engine, same_db: bool, codes: CodeTables, context: Context,
                 run_id: str, clock: Callable[[], datetime], tally: Tally, rules: Rules = Rules()) -> None:
        self.internal, self.state, self.same_db = internal, state, same_db
        self.codes, self.context, self.run_id, self.clock, self.tally = codes, context, run_id, clock, tally
        self.rules = rules
        # A first run grows the ledger, and the people's tables inside, many times over: plan
        # its later batches on statistics that know it (``statistics.Growth``).
        self.growth = statistics.Growth(state, lt.txn, self._refresh_statistics)

    def unit(self) -> UnitOfWork:
        """A unit of work over both databases; separate, the internal side commits first (``sync.uow``)."""
        return UnitOfWork(self.internal, self.state, self.same_db, between="after_internal_commit")

    def _refresh_statistics(self) -> None:
        statistics.refresh(self.state)
        statistics.refresh(self.internal, WRITTEN_INSIDE)

    # --- parse and validate ------------------------------------------------------------

    @staticmethod
    def _blank_facts(staged: Staged) -> dict[str, Any]:
        status = staged.raw.get("status") if isinstance(staged.raw, dict) else None
        return {"txn_id": staged.txn_id, "version": staged.version, "updated_at": staged.updated_at,
                "status": str(status)[:20] if status is not None else None,
                "content_hash": staged.content_hash, "core_hash": None, "biz_type": None, "region_code": None,
                "agent_id": None, "agent_name": None, "id_number": None, "created_at": None}

    def brief(self, staged: Staged, ledger: dict[str, LedgerEntry]) -> Parsed | None:
        """A version the ledger has settled (``planner.settled``), without parsing or validating it.

        After every write-back the platform shows each transaction again with a new version and
        only its status changed: the next night's feed is mostly these echoes, and reading them
        costs a hash and a dictionary lookup instead of the whole wire model and validation.
        """
        if not self.settles(staged, ledger):
            return None
        status = staged.raw.get("status")
        facts = self._blank_facts(staged)
        self._raw_facts(staged.raw, facts)
        return Parsed(staged, Candidate(staged.txn_id, staged.version, status, staged.content_hash,
                                        Validated(None, ())), facts, brief=True)

    @staticmethod
    def settles(staged: Staged, ledger: dict[str, LedgerEntry]) -> bool:
        """The ledger has settled this version already (an echo): no parsing, no scans needed."""
        if staged.restaged or not staged.identified or not isinstance(staged.raw, dict):
            return False
        return settled(staged.version, staged.raw.get("status"), staged.content_hash,
                       ledger.get(staged.txn_id)) is not None

    def needs_scans(self, staged: Staged) -> bool:
        """Whether this version's scans can change its outcome: not for a record that is invalid
        whatever its scans hold, nor for a withdrawal (platform-api.md §2: requests are the budget)."""
        if not staged.identified or not isinstance(staged.raw, dict) or not staged.raw.get("attachments"):
            return False
        try:
            txn = wire.parse(staged.raw)
        except wire.WireError:
            return False
        if txn.status == "withdrawn":
            return False
        every_scan_ok = {a.attachment_id: True for a in txn.attachments}
        return validate(txn, self.context, every_scan_ok, staged.content_hash).record is not None

    def known(self, batch: list[Staged]) -> dict[str, LedgerEntry]:
        """The ledger's entries for a batch, as ``process`` reads them."""
        with self.state.connect() as conn:
            return entries(conn, [s.txn_id for s in batch])

    def parse(self, staged: Staged, scans: dict[str, ScanOutcome], ok: dict[str, bool] | None = None) -> Parsed:
        """``scans``: the batch's outcomes by attachment id; a record counts one only for the hash
        it declared itself (``own_scans``). ``ok`` is no longer read."""
        facts = self._blank_facts(staged)
        if not staged.identified:
            problems = (Problem("txn_id", "missing_identity"),)
            return Parsed(staged, Candidate(staged.txn_id, 1, None, staged.content_hash, Validated(None, problems)), facts)
        try:
            txn = wire.parse(staged.raw)
        except wire.WireError as err:
            validated = Validated(None, tuple(err.problems))
            status = staged.raw.get("status")
            self._raw_facts(staged.raw, facts)
            return Parsed(staged, Candidate(staged.txn_id, staged.version, status, staged.content_hash, validated), facts)
        validated = validate(txn, self.context, own_scans(txn, scans), staged.content_hash)
        self._facts(txn, validated, facts)
        return Parsed(staged, Candidate(txn.txn_id, txn.version, txn.status, staged.content_hash, validated), facts)

    @staticmethod
    def _raw_facts(raw: dict[str, Any], facts: dict[str, Any]) -> None:
        for key in ("biz_type", "region_code", "created_at"):
            value = raw.get(key)
            facts[key] = str(value)[:12 if key == "region_code" else 19] if isinstance(value, (str, int)) else None

    def _facts(self, txn: wire.Transaction, validated: Validated, facts: dict[str, Any]) -> None:
        record = validated.record
        facts.update(biz_type=(txn.biz_type or "")[:10] or None, region_code=(txn.region_code or "")[:12] or None,
                     agent_id=(txn.agent.agent_id or "")[:40] or None, agent_name=(txn.agent.name or "")[:60] or None,
                     created_at=txn.created_at.strftime("%Y-%m-%d %H:%M:%S") if txn.created_at else None)
        if record is not None:
            facts.update(id_number=record.person.id_number, core_hash=core_hash(record))
        elif txn.person.id_number:
            try:  # an invalid record still names its person, when the number itself is sound
                facts["id_number"] = idcard.parse(txn.person.id_number).value
            except idcard.IdNumberError:
                pass

    # --- plan and commit -------------------------------------------------------------------

    def process(self, batch: list[Staged], scans: dict[str, ScanOutcome], scope: str | None,
                position: datetime | None, rules: Rules | None = None, audit: dict[str, Any] | None = None,
                decide: Decide | None = None, known: Ledger | None = None,
                more_scans: Callable[[list[Staged]], dict[str, ScanOutcome]] | None = None) -> list[Decision]:
        """Plan and commit one batch with the checkpoint ``position`` of ``scope``.

        ``known``: the batch's ledger entries when the caller read them already, to fetch scans
        only for versions that are not echoes (``settles``); ``more_scans`` then fetches those of
        an echo whose ledger entry moved before planning and so must be read in full after all.

        Counter staff write while the bridge runs: when the database changed under the
        batch's view (a row linked meanwhile, a person inserted twice), the batch rolls back
        and is planned again on a fresh view.
        """
        with self.tally.timed("validate"):
            ok = {a: s.ok for a, s in scans.items()}
            if decide is not None:
                known = {}
            elif known is None:
                known = self.known(batch)
            # An operator's resolution plans a version again by its own rules: never brief.
            parsed = [(None if decide is not None or s.restaged else self.brief(s, known))
                      or self._parse_safely(s, scans, ok) for s in batch]
        rules = rules or self.rules
        refused: dict[int, Problem] = {}  # records the internal database would not take: planned invalid
        replans = 0
        while True:
            decisions, ledger = self._planned(parsed, scans, rules, decide, more_scans, refused)
            try:
                with self.tally.timed("apply"):
                    self._commit(parsed, decisions, ledger, scans, scope, position, audit)
                break
            except OperationalError as err:
                # A lock wait that timed out, a deadlock, a connection dropped: the batch rolled
                # back whole; plan it again. A database that stays down stops the region.
                replans = self._again(replans, err)
            except (ConcurrentChange, IntegrityError) as err:
                # A duplicate key or a row changed by counter staff: the batch rolled back whole;
                # plan it again on a fresh view. Still failing on a fresh view, it is one record's.
                if replans < CONCURRENT_REPLANS:
                    replans = self._again(replans, err)
                else:
                    replans = self._isolated(parsed, decisions, ledger, scans, refused, err, replans)
            except Exception as err:  # DataError, a bug: one record's, found and planned invalid
                replans = self._isolated(parsed, decisions, ledger, scans, refused, err, replans)
        for p, d in zip(parsed, decisions):
            self.tally.add(p.facts["biz_type"], d)
        self.growth.grew(len(batch))
        return decisions

    def _parse_safely(self, staged: Staged, scans: dict[str, ScanOutcome], ok: dict[str, bool] | None = None) -> Parsed:
        """``parse``, except that a bug met while reading one record makes that record invalid."""
        try:
            return self.parse(staged, scans, ok)
        except Exception as err:
            log.exception("parse_failed", txn_id=staged.txn_id)
            problem = Problem("txn_id", "planning_failed", type(err).__name__)
            return Parsed(staged, Candidate(staged.txn_id, staged.version, None, staged.content_hash,
                                            Validated(None, (problem,))), self._blank_facts(staged))

    @staticmethod
    def _again(replans: int, err: BaseException) -> int:
        """One more re-plan of the whole batch, or the error once they are spent."""
        replans += 1
        if replans >= MAX_REPLANS:
            raise err
        log.warning("batch_replanned", attempt=replans, error=str(err).splitlines()[0][:200] if str(err) else "")
        time.sleep(REPLAN_PAUSE * replans)
        return replans

    def _isolated(self, parsed: list[Parsed], decisions: list[Decision], ledger: Ledger, scans: Scans,
                  refused: dict[int, Problem],
                  err: BaseException, replans: int) -> int:
        """The records that made the batch fail, found one by one (``_probe``) and added to
        ``refused``; the batch is then planned again without them. None found: the failure was
        the batch's, not a record's, and it is planned again like a concurrent change."""
        try:
            probed = self._probe(parsed, decisions, ledger)
        except (OperationalError, ConcurrentChange) as again:
            return self._again(replans, again)
        found = {i: e for i, e in probed.items() if i not in refused}
        if not found:
            return self._again(replans, err)
        for i, cause in found.items():
            log.error("record_refused_inside", txn_id=parsed[i].staged.txn_id, error=type(cause).__name__,
                      detail=str(cause).splitlines()[0][:200] if str(cause) else "")
            refused[i] = Problem("txn_id", "db_refused", type(cause).__name__)
        return replans

    def _probe(self, parsed: list[Parsed], decisions: list[Decision], ledger: Ledger) -> dict[int, BaseException]:
        """Index -> error of each record whose rows or ledger entry fail on their own, each
        written under a savepoint of one transaction that is rolled back: nothing stays. A
        record that builds on one that failed (its person created in this batch) is not
        blamed: planned again without the first, it finds what it needs missing."""
        now = self.clock()
        failed: dict[int, BaseException] = {}
        blamed_refs: set[str] = set()
        source = self.codes.setting("source", "platform")
        with self.unit() as uow:  # never committed: everything written here is rolled back
            applier = Applier(uow.internal, source)
            for i, (p, d) in enumerate(zip(parsed, decisions)):
                refs = {getattr(op, "ref", None) for op in getattr(d, "ops", ())} - {None}
                if refs & blamed_refs:
                    continue
                try:
                    with uow.savepoint():
                        written = applier.apply([Work(p.staged.txn_id, d, self._stamp(p, now))]) \
                            if isinstance(d, Apply) else {}
                        self._ledger(uow.state, [p], [d], ledger, {}, written, None, None, now, None)
                except (OperationalError, ConcurrentChange):
                    raise  # not this record's doing
                except Exception as cause:
                    applier.discard()
                    failed[i] = cause
                    blamed_refs.add(new_ref(p.staged.txn_id))
        return failed

    def _planned(self, parsed: list[Parsed], scans: Scans, rules: Rules, decide: Decide | None,
                 more_scans: MoreScans | None, refused: dict[int, Problem]) -> tuple[list[Decision], Ledger]:
        """The batch's decisions on a fresh view of the internal database and the ledger."""
        with self.tally.timed("match"):
            with self.state.connect() as conn:
                ledger = entries(conn, [p.staged.txn_id for p in parsed])
            moved = [i for i, p in enumerate(parsed) if p.brief and not self.settles(p.staged, ledger)]
            if moved and more_scans is not None:  # their scans were not fetched with the batch's
                scans.update(more_scans([parsed[i].staged for i in moved]))
            for i in moved:  # the ledger moved since the batch was read: read it whole
                parsed[i] = self._parse_safely(parsed[i].staged, scans)
            ids = [p.facts["id_number"] for p in parsed if p.facts["id_number"]]
            whole = [p.staged.txn_id for p in parsed if not p.brief]
            if ids or whole:
                with self.internal.connect() as conn:
                    view = load_view(conn, ids, whole, self.codes)
            else:  # a batch of echoes only: nothing to look up inside
                view = InternalView()
            decisions = [Invalid((refused[i],)) if i in refused else self._plan(p, view, ledger, rules, decide)
                         for i, p in enumerate(parsed)]
        return decisions, ledger

    def _plan(self, p: Parsed, view: InternalView, ledger: Ledger, rules: Rules, decide: Decide | None) -> Decision:
        entry = ledger.get(p.staged.txn_id)
        record = p.candidate.validated.record
        operator = record.operator if record else BRIDGE_OPERATOR
        if decide is not None:  # an operator's resolution: its own pure function, raising when refused
            decision = decide(p.candidate, view, self.codes, entry)
            misfits = fits.problems(decision, operator, p.facts["biz_type"])
        else:
            try:
                decision = plan(p.candidate, view, self.codes, entry, rules)
                misfits = fits.problems(decision, operator, p.facts["biz_type"])
            except Exception as err:  # a planner bug must not stop the batch or lose the record
                log.exception("plan_failed", txn_id=p.staged.txn_id)
                return Invalid((Problem("txn_id", "planning_failed", type(err).__name__),))
        if misfits:
            # What the internal columns cannot hold makes the record invalid before it is
            # simulated: later records of the batch must not build on rows never written.
            return Invalid(misfits)
        return self._simulated(p, view, decision)

    @staticmethod
    def _simulated(p: Parsed, view: InternalView, decision: Decision) -> Decision:
        if isinstance(decision, Apply):
            state = view.person(p.facts["id_number"]) if p.facts["id_number"] else None
            for op in decision.ops:
                state = op.simulate(view, state) or view.person(p.facts["id_number"])
        return decision

    def _stamp(self, p: Parsed, now: datetime) -> Stamp:
        record = p.candidate.validated.record
        operator = record.operator if record else BRIDGE_OPERATOR
        return Stamp(operator=operator, at=now.strftime("%Y%m%d%H%M%S"), business_date=now.strftime("%Y%m%d"))

    def _commit(self, parsed: list[Parsed], decisions: list[Decision], ledger: Ledger, scans: Scans,
                scope: str | None, position: datetime | None, audit: dict[str, Any] | None) -> None:
        now = self.clock()
        work = [Work(p.staged.txn_id, d, self._stamp(p, now)) for p, d in zip(parsed, decisions) if isinstance(d, Apply)]
        with self.unit() as uow:
            written = Applier(uow.internal, self.codes.setting("source", "platform")).apply(work)
            self._ledger(uow.state, parsed, decisions, ledger, scans, written, scope, position, now, audit)
            uow.commit()

    def _ledger(self, conn: Connection, parsed: list[Parsed], decisions: list[Decision], ledger: Ledger,
                scans: Scans, written: dict[str, str], scope: str | None, position: datetime | None, now: datetime,
                audit: dict[str, Any] | None) -> None:
        writer = LedgerWriter(conn, self.run_id, now, ledger, **(audit or {}))
        writer.stage([{**p.staged.row(), "outcome": d.state} for p, d in zip(parsed, decisions)
                      if not p.staged.restaged])
        writer.attachments(scans.values())
        for p, d in zip(parsed, decisions):
            ywlsh = written.get(p.staged.txn_id) or getattr(d, "ywlsh", None)
            writer.record(p.facts, d, ledger.get(p.staged.txn_id), ywlsh)
        writer.flush()
        if scope is not None and position is not None:
            cp.write(conn, scope, cp.Checkpoint(updated_at=position), now)
