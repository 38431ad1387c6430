"""One nightly run: for each region scope, under its lock, pull the feed and process it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.platform import PlatformClient, RegionForbidden, RetryBudgetExhausted
from connectors.platform.errors import PlatformError, Unconfigured
from connectors.platform.feed import pages
from mapping import wire
from mapping.codes import CodeTables
from mapping.types import PLAIN_LOCAL, parse_local_datetime
from mapping.validate import Context
from sync import checkpoint as cp
from sync import faultpoints
from sync.ledger import tables as t
from sync.ledger.store import seen_versions, verified_scans
from sync.locks import run_lock
from sync.planning.planner import Rules
from sync.process import Processor, Staged, Tally, in_rounds, stage
from sync.scans import ScanFetcher, ScanOutcome
from sync.sealing.signer import Signer
from sync.uow import UnitOfWork

log = structlog.get_logger(__name__)


class Outcome(Protocol):
    """What the steps after the feed read and add to: a night's result, or a ferry load's."""

    tally: Tally
    after: dict[str, Any]


INCOMPLETE = 75
"""The exit status of a run that ended cleanly but not completely (the platform stayed down, the
budget was spent): the next run resumes from its checkpoint. sysexits' EX_TEMPFAIL, so that the
systemd units can count it alone as success (``SuccessExitStatus=75``), while a usage or setting
mistake (2) and a lost database fail the unit where somebody sees it."""
NEEDS_ATTENTION = 1
"""The exit status of a run that stopped for something a person must look at: a database that
failed under it, a batch across the gap quarantined as unsigned or changed."""


def exit_status(status: str, attention: bool) -> int:
    if status == "completed":
        return 0
    return NEEDS_ATTENTION if attention else INCOMPLETE


@dataclass
class RunResult:
    run_id: str
    status: str  # completed | incomplete
    tally: Tally
    problems: list[str] = field(default_factory=list)
    skipped_regions: list[str] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)  # what the steps after the feed did (seal, write-back)
    attention: bool = False  # stopped by something resuming will not cure (a database error)
    # The run's first request named a setting's fault (``Unconfigured``): its line; the run stopped there.
    unconfigured: str | None = None

    @property
    def exit_code(self) -> int:
        return exit_status(self.status, self.attention)


@dataclass
class Parts:
    """What a run needs, wired once (``bridge.wiring``)."""

    internal: Engine
    state: Engine
    same_db: bool
    codes: CodeTables
    context: Context
    home: Path
    scopes: tuple[str | None, ...]
    overlap: timedelta
    page_size: int
    clock: Callable[[], datetime]
    signer: Signer            # the seal key (``bridge.wiring.signer_for``: a trial key when none is set)
    receipts: Path            # folder of sealed receipts
    reports: Path             # folder of the daily reports
    # The platform side: None in parts built for the internal side only (``load``, the console,
    # the reports); ``platform`` and ``scans`` name the fault instead of an AttributeError.
    client: PlatformClient | None = None
    fetcher: ScanFetcher | None = None
    rules: Rules = Rules()
    scan_dir: Path | None = None  # where scans are kept (default: home/scans)
    report_formats: tuple[str, ...] = ("xlsx", "html")
    full_sweep_every: timedelta | None = timedelta(days=7)  # None: the seal and write-back read all
    review_lookback: timedelta = timedelta(hours=48)        # how far review times are read back
    # The day's report, after the seal and write-back (``sync.nightly.daily_report``): composed
    # above the engine (``bridge.reporting``), which never imports the reports.
    report: Callable[[Parts, Outcome], None] | None = None
    # Told after each page: (scope, checkpoint at the scope's start, the page's position, tally).
    # The CLI draws its progress display from it; the engine knows nothing of terminals.
    progress: Callable[[str, datetime | None, datetime | None, Tally], None] | None = None

    @property
    def platform(self) -> PlatformClient:
        """The platform client; these parts must have been built with one (``bridge.wiring.build``)."""
        if self.client is None:
            raise RuntimeError("these parts were built for the internal side only: no platform client")
        return self.client

    @property
    def scans(self) -> ScanFetcher:
        """The scan fetcher; these parts must have been built with one (``bridge.wiring.build``)."""
        if self.fetcher is None:
            raise RuntimeError("these parts were built for the internal side only: no scan fetcher")
        return self.fetcher

    def uow(self) -> UnitOfWork:
        """A unit of work over the internal and the state database (``sync.uow``)."""
        return UnitOfWork(self.internal, self.state, self.same_db)

    def processor(self, run_id: str, tally: Tally | None = None) -> Processor:
        """The run's ``Processor``, built from these parts: the one place its arguments are named."""
        return Processor(self.internal, self.state, self.same_db, self.codes, self.context, run_id, self.clock,
                         tally if tally is not None else Tally(), self.rules)


QUIET_COMMIT = 2.0  # seconds a quiet page's position may wait for the next commit


def page_position(items: list[Any]) -> datetime | None:
    """The latest ``updated_at`` of a page. Stamps in the contract's own form sort as text, so
    only the latest of those is parsed; any other form is parsed one by one."""
    plain, stamps = [], []
    for item in items:
        value = item.get("updated_at") if isinstance(item, dict) else None
        if isinstance(value, str) and PLAIN_LOCAL.fullmatch(value):
            plain.append(value)
            continue
        try:
            stamps.append(parse_local_datetime(value))
        except Exception:
            continue
    for value in sorted(plain, reverse=True):
        try:
            stamps.append(parse_local_datetime(value))
            break
        except Exception:  # 2026-13-40 …: not a time, however it sorts
            continue
    return max(stamps) if stamps else None


def _new_versions(parts: Parts, items: list[Any]) -> list[Staged]:
    """The page's versions not staged before. Versions already seen — most of a quiet night's
    feed, re-read in the checkpoint's overlap — are recognised by (txn_id, version) before
    staging, which hashes each item's canonical JSON (a seventh of a quiet rerun's CPU)."""
    idents = [wire.identity(item) for item in items]
    with parts.state.connect() as conn:
        seen = seen_versions(conn, [i[0] for i in idents if i])
        staged = [stage(item) for item, i in zip(items, idents) if i is None or i not in seen]
        if any(not s.identified for s in staged):
            seen |= seen_versions(conn, [s.txn_id for s in staged if not s.identified])
    fresh: dict[tuple[str, int], Staged] = {}
    for s in staged:
        key = (s.txn_id, s.version)
        if key not in seen and key not in fresh:
            fresh[key] = s
    return list(fresh.values())


def _scans(parts: Parts, processor: Processor, batch: list[Staged]) -> dict[str, ScanOutcome]:
    """Scans of the versions whose outcome they can change (``Processor.needs_scans``)."""
    attachments = [a for s in batch if processor.needs_scans(s)
                   for a in s.raw["attachments"] if isinstance(a, dict) and isinstance(a.get("attachment_id"), str)]
    if not attachments:
        return {}
    with parts.state.connect() as conn:
        verified = verified_scans(conn, [a["attachment_id"] for a in attachments])
    return parts.scans.outcomes(attachments, verified)


def scope_run(parts: Parts, processor: Processor, scope: str | None) -> None:
    """One scope's feed, page by page, from its committed checkpoint, through ``processor``.

    The caller holds the scope's lock (``sync.locks.run_lock``): the nightly run, a distributed
    worker's partition, the coordinator's sweep."""
    key = cp.scope_of(scope)

    def committed() -> datetime | None:
        with parts.state.connect() as conn:
            return cp.read(conn, key).updated_at

    tally = processor.tally
    since = committed() if parts.progress is not None else None
    feed = pages(parts.platform, committed, region_prefix=scope, overlap=parts.overlap, limit=parts.page_size)
    # A page with nothing new (most of a quiet night's re-read overlap) leaves its position to be
    # committed with the next batch, at most QUIET_COMMIT seconds later, or at the end: one
    # transaction instead of one per page (a quiet rerun at N = 100,000 spent half a second on
    # 180 of them). A crash meanwhile only re-reads pages already staged.
    quiet: datetime | None = None
    last_commit = time.monotonic()
    while True:
        with tally.timed("fetch"):
            page = next(feed, None)
            if page is None:
                break
            tally.pulled += len(page.items)
            batch = _new_versions(parts, page.items)
        position = page_position(page.items)
        if parts.progress is not None:
            parts.progress(key, since, position, tally)
        if not batch and time.monotonic() - last_commit < QUIET_COMMIT:
            quiet = max(filter(None, (quiet, position)), default=None)
            continue
        tally.new_versions += len(batch)
        with tally.timed("validate"):
            known = processor.known(batch)
        with tally.timed("scans"):  # an echo of a settled version needs no scans: its content is unchanged
            scans = _scans(parts, processor, [s for s in batch if not processor.settles(s, known)])
        rounds = in_rounds(batch)
        for i, part in enumerate(rounds):  # one round, but where the platform showed a transaction twice
            last = i == len(rounds) - 1
            processor.process(part, scans, key, max(filter(None, (quiet, position)), default=None) if last else None,
                              known=known if len(rounds) == 1 else None, more_scans=lambda staged: _scans(parts, processor, staged))
        quiet, last_commit = None, time.monotonic()
        log.info("batch_committed", scope=key, items=len(page.items), new=len(batch))
        faultpoints.reached("after_batch")
    if quiet is not None:
        processor.process([], {}, key, quiet)
        log.info("batch_committed", scope=key, items=0, new=0)


def locked_scope_run(parts: Parts, processor: Processor, scope: str | None, wait: bool) -> None:
    """``scope_run`` under the scope's lock; ``wait`` for another process's hold, or raise ``LockBusy``."""
    with run_lock(parts.state, parts.home, cp.scope_of(scope), wait=wait):
        scope_run(parts, processor, scope)


def run(parts: Parts, wait: bool = False, after: Callable[[Parts, RunResult], None] | None = None) -> RunResult:
    """One run over every scope, then ``after`` (sealing, write-back). Never raises for the
    platform being down: it says so in the result."""
    run_id = parts.clock().strftime("%Y%m%d%H%M%S-") + uuid.uuid4().hex[:8]
    structlog.contextvars.bind_contextvars(run_id=run_id)
    result = RunResult(run_id, "completed", Tally())
    _start(parts, run_id)
    processor = parts.processor(run_id, result.tally)
    for scope in parts.scopes:
        try:
            locked_scope_run(parts, processor, scope, wait)
        except RegionForbidden:
            result.skipped_regions.append(scope or "*")
            log.warning("region_forbidden", region=scope)
        except Unconfigured as err:  # no scope would fare better: the settings are wrong
            result.status, result.unconfigured = "incomplete", str(err)
            result.problems.append(f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
            break  # said once, by the command (its line names the setting): no log line beside it
        except (RetryBudgetExhausted, PlatformError, SQLAlchemyError) as err:
            # The batch in hand rolled back; every committed one stands, and the next run
            # resumes from the last committed checkpoint.
            result.status = "incomplete"
            result.attention = result.attention or isinstance(err, SQLAlchemyError)
            result.problems.append(f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
            log.error("run_incomplete", scope=scope, error=result.problems[-1])
    if after is not None and result.unconfigured is None:
        after(parts, result)
    _finish(parts, result)
    return result


def _start(parts: Parts, run_id: str) -> None:
    with parts.state.begin() as conn:
        conn.execute(t.run.insert().values(run_id=run_id, kind="sync", started_at=parts.clock(), status="running"))


def _finish(parts: Parts, result: RunResult) -> None:
    summary = {"pulled": result.tally.pulled, "new_versions": result.tally.new_versions,
               "by_state": dict(result.tally.by_state), "conflicts": dict(result.tally.conflicts),
               "by_type": {f"{b}:{s}": n for (b, s), n in result.tally.by_type.items()},
               "problems": result.problems, "skipped_regions": result.skipped_regions,
               "requests": parts.platform.stats.requests, "retries": parts.platform.stats.retries,
               "scans_fetched": parts.scans.fetched,
               "seconds": {k: round(v, 3) for k, v in result.tally.seconds.items()},
               "cpu_seconds": {k: round(v, 3) for k, v in result.tally.cpu.items()}, **result.after}
    with parts.state.begin() as conn:
        conn.execute(update(t.run).where(t.run.c.run_id == result.run_id).values(
            finished_at=parts.clock(), status=result.status, summary=json.dumps(summary, ensure_ascii=False)))
