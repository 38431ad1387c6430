"""The nightly job: the feed, then seals, then results back to the platform."""

from __future__ import annotations

import dataclasses

import structlog

from connectors.platform import PlatformError
from sync import audit, engine, faultpoints, services, sweep
from sync.engine import Outcome, Parts, RunResult
from sync.ledger import statistics

log = structlog.get_logger(__name__)


def seal_and_write_back(parts: Parts, result: RunResult) -> None:
    """Seal what was approved inside, then write every due result back (platform permitting).
    Both read the rows tonight's sweep names (``sync.sweep``): what can owe something since the
    last night that finished, or the whole ledger."""
    with result.tally.timed("seal"):
        swept = sweep.plan(parts, parts.full_sweep_every, parts.review_lookback)
        sealed = services.seal(services.Seal(swept.txn_ids), parts)
    result.after["seal"] = dataclasses.asdict(sealed)
    result.after["sweep"] = swept.summary()
    faultpoints.reached("after_seal")
    if result.status != "completed":
        return  # the platform did not answer the feed: results wait for the next run
    try:
        with result.tally.timed("writeback"):
            command = services.WriteBack(parts.scans.workers, swept.txn_ids)
            result.after["writeback"] = dataclasses.asdict(services.write_back(command, parts))
    except PlatformError as err:
        result.status = "incomplete"
        result.problems.append(f"write-back: {err}")
        log.error("writeback_failed", error=str(err))
        return
    sweep.record(parts, swept)


def wrote(result: Outcome) -> bool:
    """The run wrote ledger rows: new versions, seals or results sent."""
    after = result.after
    return bool(result.tally.new_versions or after.get("seal", {}).get("sealed")
                or after.get("writeback", {}).get("sent") or after.get("writeback", {}).get("failed"))


def daily_report(parts: Parts, result: Outcome) -> None:
    """Statistics tidied after a night that wrote, then the day's report: ``parts.report``, composed
    above the engine (``bridge.reporting``), for the engine never imports the reports."""
    if wrote(result):  # the night wrote ledger rows: plan the report, and tomorrow, on fresh numbers
        if vacuumed := statistics.tidy(parts.state):
            result.after["vacuumed"] = vacuumed
    if parts.report is not None:
        parts.report(parts, result)


def after_feed(parts: Parts, result: RunResult) -> None:
    seal_and_write_back(parts, result)
    try:
        with result.tally.timed("report"):
            daily_report(parts, result)
    except (OSError, ValueError) as err:  # a full disk must not undo a night's work: say so
        result.problems.append(f"report: {err}")
        log.error("report_failed", error=str(err))
    if parts.signer is not None:  # the audit head, signed outside the database (``sync.audit``)
        audit.sign_head(parts.state, parts.signer, parts.home, parts.clock())


def run(parts: Parts, wait: bool = False) -> RunResult:
    from config.catalogue import text
    from connectors.internal import indexes

    if wanted := indexes.advise(parts.internal):
        log.warning("internal_indexes_missing", indexes=[w.ddl for w in wanted], advice=text("db.indexes_missing"))
    return engine.run(parts, wait=wait, after=after_feed)
