"""``sync --distributed``: one run as jobs per region partition, then the sweep and the rest.

1. Record the run and its partitions (``pb_partition``), and defer one job per partition.
2. Wait until every partition is done or failed, giving the jobs of dead workers to others.
3. Sweep the configured scopes in this process: the partitions' versions are already in the
   ledger and are dropped, so the sweep only picks up what no partition covers (a region code
   under no known county) — nothing is lost by partitioning.
4. Seal, write back and report, as ``sync`` does.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any, Protocol

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from connectors.platform import RegionForbidden, RetryBudgetExhausted
from connectors.platform.errors import PlatformError
from sync import nightly, services
from sync.distributed import tasks
from sync.distributed.partitions import partitions
from sync.engine import Parts, RunResult
from sync.ledger import tables as t
from sync.process import Tally

log = structlog.get_logger(__name__)
FINISHED = ("done", "failed")


class QueueSettings(Protocol):
    """What a distributed run reads of the settings (``bridge.settings.Settings``, above the engine)."""

    @property
    def queue_url(self) -> str: ...

    @property
    def worker_stalled_after(self) -> float: ...

    @property
    def partition_level(self) -> str: ...


def enqueue(parts: Parts, app: procrastinate.App, run_id: str, prefixes: list[str]) -> None:
    with parts.state.begin() as conn:
        conn.execute(t.run.insert().values(run_id=run_id, kind="distributed", started_at=parts.clock(),
                                           status="running"))
        conn.execute(t.partition.insert(), [{"run_id": run_id, "prefix": p, "status": "queued", "attempts": 0}
                                            for p in prefixes])
    for prefix in prefixes:
        lock = f"partition:{prefix}"
        try:
            job_id = app.configure_task(tasks.TASK, lock=lock, queueing_lock=lock).defer(run_id=run_id, prefix=prefix)
        except AlreadyEnqueued:  # an earlier run's job for it still waits: that one will do the work
            _set(parts, run_id, prefix, status="failed", error="already queued by an earlier run")
            continue
        _set(parts, run_id, prefix, job_id=job_id)


def _set(parts: Parts, run_id: str, prefix: str, **values: Any) -> None:
    p = t.partition.c
    with parts.state.begin() as conn:
        conn.execute(update(t.partition).where(p.run_id == run_id, p.prefix == prefix).values(**values))


def partition_rows(parts: Parts, run_id: str) -> list[dict[str, Any]]:
    p = t.partition.c
    with parts.state.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t.partition).where(p.run_id == run_id)
                                                       .order_by(p.prefix))]


def wait_for(parts: Parts, app: procrastinate.App, run_id: str, stalled_after: float, poll: float = 2.0,
             timeout: float | None = None) -> list[dict[str, Any]]:
    started = time.monotonic()
    while True:
        rows = partition_rows(parts, run_id)
        if all(r["status"] in FINISHED for r in rows):
            return rows
        if timeout is not None and time.monotonic() - started > timeout:
            return rows
        asyncio.run(_retry(app, stalled_after))
        time.sleep(poll)


async def _retry(app: procrastinate.App, stalled_after: float) -> None:
    async with app.open_async():
        await tasks.retry_stalled(app, stalled_after)


def run(parts: Parts, settings: QueueSettings, wait: bool = True, timeout: float | None = None) -> RunResult:
    """One distributed run; without ``wait``, only enqueue (the workers and a later status tell)."""
    app = tasks.make_app(settings.queue_url, settings.worker_stalled_after)
    run_id = parts.clock().strftime("%Y%m%d%H%M%S-d") + uuid.uuid4().hex[:7]
    structlog.contextvars.bind_contextvars(run_id=run_id)
    prefixes = partitions(parts.context.regions, settings.partition_level)
    with app.open():
        tasks.ensure_schema(app, parts.state, parts.home)
        enqueue(parts, app, run_id, prefixes)
    log.info("distributed_run_enqueued", partitions=prefixes)
    result = RunResult(run_id, "completed", Tally())
    if not wait:
        result.status = "enqueued"
        return result
    rows = wait_for(parts, app, run_id, settings.worker_stalled_after, timeout=timeout)
    for row in rows:
        summary = json.loads(row["summary"] or "{}")
        result.tally.pulled += summary.get("pulled", 0)
        result.tally.new_versions += summary.get("new_versions", 0)
        result.tally.by_state.update(Counter(summary.get("by_state", {})))
        result.tally.conflicts.update(Counter(summary.get("conflicts", {})))
        if row["status"] != "done":
            result.status = "incomplete"
            result.problems.append(f"partition {row['prefix']}: {row['status']} {row['error'] or ''}".strip())
    _sweep(parts, run_id, result)
    nightly.after_feed(parts, result)
    _finish(parts, result, rows)
    return result


def _sweep(parts: Parts, run_id: str, result: RunResult) -> None:
    processor = parts.processor(run_id, result.tally)
    for scope in parts.scopes:
        try:
            services.sync_scope(services.SyncScope(run_id, scope, wait=True), parts, processor)
        except RegionForbidden:
            result.skipped_regions.append(scope or "*")
        except (RetryBudgetExhausted, PlatformError, SQLAlchemyError) as err:
            result.status = "incomplete"
            result.attention = result.attention or isinstance(err, SQLAlchemyError)
            result.problems.append(f"sweep: {type(err).__name__}: {str(err).splitlines()[0][:300]}")


def _finish(parts: Parts, result: RunResult, rows: list[dict[str, Any]]) -> None:
    summary = {"pulled": result.tally.pulled, "new_versions": result.tally.new_versions,
               "by_state": dict(result.tally.by_state), "conflicts": dict(result.tally.conflicts),
               "partitions": {r["prefix"]: r["status"] for r in rows}, "problems": result.problems,
               "skipped_regions": result.skipped_regions, **result.after}
    with parts.state.begin() as conn:
        conn.execute(update(t.run).where(t.run.c.run_id == result.run_id).values(
            finished_at=parts.clock(), status=result.status, summary=json.dumps(summary, ensure_ascii=False,
                                                                                default=str)))
