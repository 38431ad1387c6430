"""The day's unsynced report, written after the nightly job's seal and write-back.

Composed here, above the engine: ``bridge.wiring`` hands ``unsynced_report`` to the parts as
their ``report`` step, and ``sync.nightly`` calls it without knowing what a report is (the
engine never imports ``reports``, which reads the engine's ledger)."""

from __future__ import annotations

import structlog

from reports.render import default_path, write_many
from reports.unsynced import Filters, UnsyncedReport
from sync.engine import Outcome, Parts

log = structlog.get_logger(__name__)


def unsynced_report(parts: Parts, result: Outcome) -> None:
    """The unsynced report in every configured format, in one pass, and one log line with its count.

    Args:
        parts: the run's parts (its databases, regions, codes, clock and report folder).
        result: the run's result; ``result.after["report"]`` says what was written.
    """
    if not parts.report_formats:
        result.after["report"] = {}
        log.info("unsynced_report", count=0, paths=[])
        return
    report = UnsyncedReport(parts.internal, parts.state, parts.context.regions, parts.codes, parts.clock())
    by_format = {fmt: default_path(parts.reports, fmt, report.now) for fmt in parts.report_formats}
    count, _ = write_many(report, Filters(), by_format)  # one pass over the databases for every format
    paths = [str(p) for p in by_format.values()]
    result.after["report"] = {"unsynced": count, "paths": paths}
    log.info("unsynced_report", count=count, paths=paths)
