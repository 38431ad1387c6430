"""What ``pension-bridge status`` shows: the current or last run, and metrics for monitoring."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from config.catalogue import text
from mapping.printable import printable
from mapping.types import PLATFORM_TZ, now_local
from sync.ledger import tables as t

AGES = (("lt1", 1), ("1to3", 3), ("3to7", 7), ("ge7", None))


def waited_since(created_at: str | None, fallback: datetime | None = None) -> datetime | None:
    """When the resident's wait began: the platform's ``created_at`` (when the agent took the
    business), the one definition of age in the queue, the report and the metrics; ``fallback``
    (the bridge first seeing it) only for a transaction without one."""
    try:
        if created_at and len(created_at) == 19 and created_at[10] == " ":
            return datetime.fromisoformat(created_at)
    except ValueError:
        pass
    return fallback


def waited_days(since: datetime | None, now: datetime) -> float:
    """Days waited since ``waited_since``; 0 when unknown or in the future."""
    return max(0.0, (now - since).total_seconds() / 86400) if since else 0.0


def new_business(summary: dict[str, Any]) -> int:
    """Versions that brought the bridge something to do: decided to any state but ``unchanged``.
    A write-back's echo (the platform's status moving after our result) is a version, not new
    business: ``sync`` says "平台没有新的业务" for a night of echoes, and so does ``status``."""
    by_state = summary.get("by_state")
    if not isinstance(by_state, dict):
        return int(summary.get("new_versions", 0) or 0)
    return sum(int(n) for state, n in by_state.items() if state != "unchanged" and isinstance(n, int))


def run_status(state: Engine, run_id: str | None = None) -> dict[str, Any]:
    r, p = t.run.c, t.partition.c
    with state.connect() as conn:
        query = select(t.run)
        query = query.where(r.run_id == run_id) if run_id else query.order_by(r.started_at.desc()).limit(1)
        row = conn.execute(query).first()
        if row is None:
            return {"run": None, "partitions": [], "by_status": {}}
        partitions = [dict(x._mapping) for x in conn.execute(select(t.partition).where(p.run_id == row.run_id)
                                                             .order_by(p.prefix))]
    out_parts = []
    for x in partitions:
        summary = json.loads(x["summary"] or "{}")
        out_parts.append({"prefix": x["prefix"], "status": x["status"], "worker": x["worker"], "attempts": x["attempts"],
                          "started_at": x["started_at"], "finished_at": x["finished_at"],
                          "pulled": summary.get("pulled", 0), "new_versions": new_business(summary),
                          "by_state": summary.get("by_state", {}), "error": x["error"]})
    by_status: dict[str, int] = {}
    for x in out_parts:
        by_status[x["status"]] = by_status.get(x["status"], 0) + 1
    return {"run": {"run_id": row.run_id, "kind": row.kind, "status": row.status, "started_at": row.started_at,
                    "finished_at": row.finished_at, "summary": json.loads(row.summary or "{}")},
            "partitions": out_parts, "by_status": by_status}


def _shown(value: Any) -> Text:
    """A value read from the database, shown as text: no Rich markup, no control characters."""
    return Text(printable("" if value is None else str(value)))


def render(found: dict[str, Any], console: Console) -> None:
    """The run and its partitions; values that partitions and workers wrote are shown as text."""
    run = found["run"]
    if run is None:
        console.print(text("status.no_run"))
        return
    line = text("status.run_line", run_id=run["run_id"], kind=text(f"status.kind.{run['kind']}"),
                status=text(f"status.state.{run['status']}"), started=f"{run['started_at']:%Y-%m-%d %H:%M:%S}",
                finished=f"{run['finished_at']:%H:%M:%S}" if run["finished_at"] else "-")
    console.print(_shown(line))
    summary = run["summary"]
    if summary:
        console.print(text("run.pulled_line", pulled=summary.get("pulled", 0), new=new_business(summary)))
    if found["partitions"]:
        table = Table(title=text("status.partitions_title", **{k: found["by_status"].get(k, 0)
                                                               for k in ("done", "running", "queued", "failed")}))
        for column in ("prefix", "status", "worker", "attempts", "pulled", "new", "error"):
            table.add_column(text(f"status.column.{column}"))
        for x in found["partitions"]:
            table.add_row(_shown(x["prefix"]), text(f"status.state.{x['status']}"), _shown(x["worker"]),
                          str(x["attempts"]), str(x["pulled"]), str(x["new_versions"]), _shown(x["error"]))
        console.print(table)


def _number(value: float) -> str:
    """A sample value in full: ``:g`` keeps 6 digits, which puts a timestamp up to 5,000 s off."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _line(out: list[str], name: str, value: float, **labels: str) -> None:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    out.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")


def _epoch(local: datetime) -> float:
    """Seconds since the epoch of a time the bridge stored: naive, in Asia/Shanghai (``now_local``),
    whatever the host's clock zone is."""
    return local.replace(tzinfo=PLATFORM_TZ).timestamp() if local.tzinfo is None else local.timestamp()


def prometheus(state: Engine, now: datetime | None = None) -> str:
    """Metrics in the Prometheus text format (for node_exporter's textfile collector or a scrape).

    ``now`` is a naive Asia/Shanghai time like every time in the ledger (default ``now_local()``):
    on a UTC host the host's ``datetime.now()`` would put every open conflict 8 h in the future.
    """
    now = now or now_local()
    r, x, c, w, s = t.run.c, t.txn.c, t.conflict.c, t.writeback.c, t.seal.c
    out: list[str] = []

    def family(name: str, kind: str, help_: str) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")

    with state.connect() as conn:
        family("pension_bridge_runs_total", "counter", "Runs started, by kind and final status.")
        for kind, status, n in conn.execute(select(r.kind, r.status, func.count()).group_by(r.kind, r.status)):
            _line(out, "pension_bridge_runs_total", n, kind=kind, status=status)
        family("pension_bridge_last_run_finished_timestamp_seconds", "gauge", "When the last run of each kind ended.")
        for kind, finished in conn.execute(select(r.kind, func.max(r.finished_at)).group_by(r.kind)):
            if finished is not None:
                _line(out, "pension_bridge_last_run_finished_timestamp_seconds", _epoch(finished), kind=kind)
        family("pension_bridge_transactions", "gauge", "Platform transactions by their one current state.")
        for state_, n in conn.execute(select(x.state, func.count()).group_by(x.state)):
            _line(out, "pension_bridge_transactions", n, state=state_)
        family("pension_bridge_conflicts_open", "gauge",
               "Conflicts waiting for an operator, by how long the resident has waited (from the platform's created_at).")
        waited = [waited_days(waited_since(created, opened), now) for created, opened in conn.execute(
            select(x.created_at, c.opened_at).select_from(t.conflict.join(t.txn, c.txn_id == x.txn_id))
            .where(c.status == "open"))]
        for label, limit in AGES:
            low = {"lt1": 0, "1to3": 1, "3to7": 3, "ge7": 7}[label]
            n = sum(1 for days in waited if low <= days < (limit or float("inf")))
            _line(out, "pension_bridge_conflicts_open", n, age_days=label)
        family("pension_bridge_writebacks", "gauge", "Results for the platform by status (failed: will be retried).")
        for status, n in conn.execute(select(w.status, func.count()).group_by(w.status)):
            _line(out, "pension_bridge_writebacks", n, status=status)
        family("pension_bridge_writeback_failures", "gauge", "Results whose last attempt failed.")
        _line(out, "pension_bridge_writeback_failures",
              conn.execute(select(func.count()).where(w.status == "failed")).scalar() or 0)
        family("pension_bridge_writeback_refused", "gauge",
               "Results the platform refused as malformed (40001 ...): not sent again until their body changes.")
        _line(out, "pension_bridge_writeback_refused",
              conn.execute(select(func.count()).where(w.status == "refused")).scalar() or 0)
        family("pension_bridge_seal_failures", "gauge", "Approved business whose seal failed (retried next run).")
        _line(out, "pension_bridge_seal_failures",
              conn.execute(select(func.count()).where(s.status == "failed")).scalar() or 0)
        family("pension_bridge_partitions", "gauge", "Partitions of the last distributed run, by status.")
        last = conn.execute(select(r.run_id).where(r.kind == "distributed").order_by(r.started_at.desc()).limit(1)
                            ).scalar()
        if last:
            for status, n in conn.execute(select(t.partition.c.status, func.count())
                                          .where(t.partition.c.run_id == last).group_by(t.partition.c.status)):
                _line(out, "pension_bridge_partitions", n, status=status)
    return "\n".join(out) + "\n"
