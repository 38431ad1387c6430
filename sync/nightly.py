"""The nightly job: the feed, then seals, then results back to the platform."""

from __future__ import annotations

import dataclasses

import structlog

from connectors.platform import PlatformError
from sync import engine
from sync.engine import Parts, RunResult
from sync.sealing.service import seal_approved
from sync.writeback import write_back

log = structlog.get_logger(__name__)


def seal_and_write_back(parts: Parts, result: RunResult) -> None:
    """Seal what was approved inside, then write every due result back (platform permitting)."""
    sealed = seal_approved(parts, parts.signer, parts.receipts)
    result.after["seal"] = dataclasses.asdict(sealed)
    if result.status != "completed":
        return  # the platform did not answer the feed: results wait for the next run
    try:
        result.after["writeback"] = dataclasses.asdict(write_back(parts))
    except PlatformError as err:
        result.status = "incomplete"
        result.problems.append(f"write-back: {err}")
        log.error("writeback_failed", error=str(err))


def run(parts: Parts, wait: bool = False) -> RunResult:
    return engine.run(parts, wait=wait, after=seal_and_write_back)
