"""The procrastinate app: its tasks, and what a worker process keeps between jobs.

One task does the work: ``sync_partition(run_id, prefix)`` pulls one partition's feed
(``region_prefix``), fetches its scans, validates, plans and applies, batch by batch, exactly as a
single-process ``sync`` does for a scope — the same ``engine`` code under the same per-scope lock.
A job carries procrastinate's ``lock`` (one worker at a time per partition) and ``queueing_lock``
(one waiting job per partition). A worker that dies stops sending heartbeats; ``retry_stalled``
(every minute on every worker, and on every poll of a waiting coordinator) gives its job to
another worker, which resumes from the partition's last committed checkpoint: nothing is lost,
and versions already in the ledger are dropped, so nothing is applied twice.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import procrastinate
import structlog
from sqlalchemy import inspect, update
from sqlalchemy.engine import Engine, make_url

from sync.ledger import tables as t

if TYPE_CHECKING:
    from sync.engine import Parts
    from sync.process import Tally

log = structlog.get_logger(__name__)
QUEUE = "sync"
TASK = "sync_partition"


def libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq conninfo."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("distributed runs need PostgreSQL for the job queue (BRIDGE_QUEUE_DB)")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def worker_name() -> str:
    return f"{socket.gethostname()[:50]}:{os.getpid()}"


def make_app(url: str, stalled_after: float = 30.0) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq(url)))

    @app.task(name=TASK, queue=QUEUE, retry=procrastinate.RetryStrategy(max_attempts=5, wait=5))
    def sync_partition(run_id: str, prefix: str) -> dict[str, Any]:
        return run_partition(run_id, prefix)

    @app.periodic(cron="* * * * *", periodic_id="retry_stalled")
    @app.task(name="retry_stalled", queue=QUEUE, queueing_lock="retry_stalled")
    async def retry_stalled_task(timestamp: int) -> int:
        return await retry_stalled(app, stalled_after)

    return app


async def retry_stalled(app: procrastinate.App, stalled_after: float) -> int:
    """Give the jobs of workers without a heartbeat for ``stalled_after`` seconds to others."""
    stalled = list(await app.job_manager.get_stalled_jobs(queue=QUEUE, task_name=TASK,
                                                          seconds_since_heartbeat=stalled_after))
    for job in stalled:
        log.warning("job_stalled_retried", job_id=job.id, args=job.task_kwargs)
        await app.job_manager.retry_job(job)
    return len(stalled)


def ensure_schema(app: procrastinate.App, state: Engine, home: Path) -> None:
    """procrastinate's tables, once (its own migrations apply to later versions: docs/operations.md).

    Workers and the coordinator start together: one at a time checks and creates, under the
    database's own lock, or two would create the same objects and one would fail."""
    from sync.locks import run_lock

    with run_lock(state, home, "queue-schema", wait=True, poll=0.2):
        if not inspect(state).has_table("procrastinate_jobs"):
            app.schema_manager.apply_schema()


# --- in the worker process ------------------------------------------------------------------------

_factory: Callable[[], Parts] | None = None
_parts: Parts | None = None


def provide_parts(factory: Callable[[], Parts]) -> None:
    """Register how this worker process builds its parts: the entry point above the engine (the
    CLI's ``worker`` command, through ``bridge.wiring``) wires them; the task only calls."""
    global _factory, _parts
    _factory, _parts = factory, None


def worker_parts() -> Parts:
    """The worker's parts, built once per process by the registered factory."""
    global _parts
    if _parts is None:
        if _factory is None:
            raise RuntimeError("no parts for this worker: call tasks.provide_parts first")
        _parts = _factory()
    return _parts


def _mark(state: Engine, run_id: str, prefix: str, **values: Any) -> None:
    p = t.partition.c
    with state.begin() as conn:
        if "attempts" in values:
            values["attempts"] = p.attempts + 1
        conn.execute(update(t.partition).where(p.run_id == run_id, p.prefix == prefix).values(**values))


def run_partition(run_id: str, prefix: str) -> dict[str, Any]:
    from connectors.platform import RegionForbidden
    from sync import services
    from sync.process import Tally

    parts = worker_parts()
    structlog.contextvars.bind_contextvars(run_id=run_id, partition=prefix)
    _mark(parts.state, run_id, prefix, status="running", worker=worker_name(), attempts=True,
          started_at=parts.clock(), error=None)
    tally = Tally()
    processor = parts.processor(run_id, tally)
    note = None
    try:
        services.sync_scope(services.SyncScope(run_id, prefix, wait=True), parts, processor)
    except RegionForbidden:
        note = "region_forbidden"
    except Exception as err:
        _mark(parts.state, run_id, prefix, status="failed", finished_at=parts.clock(),
              error=f"{type(err).__name__}: {str(err).splitlines()[0][:500]}" if str(err) else type(err).__name__,
              summary=json.dumps(summary_of(tally)))
        log.error("partition_failed", error=str(err)[:300])
        raise
    summary = {**summary_of(tally), **({"note": note} if note else {})}
    _mark(parts.state, run_id, prefix, status="done", finished_at=parts.clock(), summary=json.dumps(summary))
    log.info("partition_done", **{k: v for k, v in summary.items() if k != "seconds"})
    return summary


def summary_of(tally: Tally) -> dict[str, Any]:
    return {"pulled": tally.pulled, "new_versions": tally.new_versions, "by_state": dict(tally.by_state),
            "conflicts": dict(tally.conflicts), "seconds": {k: round(v, 3) for k, v in tally.seconds.items()}}
