"""The end-of-run summary, as people read it (Chinese, from the message catalogue)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from config.catalogue import has, text
from mapping.businesses import registry as business_types
from sync.engine import RunResult
from sync.ferry.collector import CollectResult
from sync.ferry.loader import LoadResult

STATES = ("applied", "linked", "withdrawn", "invalid", "conflict", "pending")


def _label(kind: str, key: str) -> str:
    return text(f"{kind}.{key}") if has(f"{kind}.{key}") else key


def render(result: RunResult, console: Console, platform_url: str | None = None) -> None:
    tally = result.tally
    decided = sum(n for state, n in tally.by_state.items() if state != "unchanged")
    if decided == 0 and result.status == "completed":
        console.print(text("run.nothing_new"))
        render_after(result, console)
        return
    if decided == 0:  # stopped before deciding anything: the cause, not an empty table
        render_after(result, console)
        for region in result.skipped_regions:
            console.print(text("run.region_forbidden", value=region))
        _failure(result, console, platform_url)
        return
    table = Table(title=f"{text('run.summary_title')}（{result.run_id}）")
    table.add_column(text("run.column_biz_type"))
    for state in STATES:
        table.add_column(_label("state", state), justify="right")
    # Every registered type, then any other code counted (a type since unregistered keeps its counts).
    counted = dict.fromkeys((*business_types.codes(), *sorted({b for b, _ in tally.by_type if b != "?"}), "?"))
    for biz in counted:
        counts = [tally.by_type.get((biz, s), 0) for s in STATES]
        if any(counts):
            table.add_row(_label("biz_type", biz) if biz != "?" else text("run.unidentified"), *map(str, counts))
    console.print(table)
    console.print(text("run.pulled_line", pulled=tally.pulled, new=tally.new_versions))
    if tally.by_state.get("linked"):
        console.print(text("run.linked_line", count=tally.by_state["linked"]))
    for kind, n in sorted(tally.conflicts.items()):
        console.print(text("run.conflict_line", kind=_label("conflict_kind", kind), count=n))
    render_after(result, console)
    for region in result.skipped_regions:
        console.print(text("run.region_forbidden", value=region))
    if result.status != "completed":
        _failure(result, console, platform_url)


def _failure(result: RunResult | CollectResult, console: Console, platform_url: str | None) -> None:
    """Why the run stopped, first in Chinese naming the setting and the URL, then the detail."""
    if platform_url is None:
        console.print(text("run.platform_down"))
        _problems(result.problems, console)
        return
    kinds = [p.partition(":")[0] for p in result.problems]
    if any(k == "RetryBudgetExhausted" for k in kinds):
        key = "cli.platform.down_during_run"
    elif all(k.endswith("Error") and k not in _PLATFORM_ERRORS for k in kinds) and kinds:
        key = "cli.platform.db_during_run"  # SQLAlchemy's: OperationalError, IntegrityError …
    else:
        key = "cli.platform.refused_during_run"
    console.print(text(key, url=platform_url), soft_wrap=True)
    _problems(result.problems, console)


# The engine names a platform failure by its class (``sync.engine.run``).
_PLATFORM_ERRORS = frozenset({"PlatformError", "FatalError", "RetriableError", "ResignError", "DeadlineExceeded",
                              "ResponseTooLarge", "ConflictError"})


def render_after(result: RunResult, console: Console) -> None:
    """Seals made and results written back, when there were any."""
    seal = result.after.get("seal") or {}
    back = result.after.get("writeback") or {}
    if any(seal.values()):
        console.print(text("run.seal_line", **seal))
    if any(back.values()):
        console.print(text("run.writeback_line", **back))
    report = result.after.get("report") or {}
    for path in report.get("paths", []):
        console.print(text("report.written", count=report["unsynced"], path=path))


# --- across the network gap ------------------------------------------------------------------

def _problems(problems: list[str], console: Console) -> None:
    for line in problems:
        console.print(f"  {line}")


def render_collect(result: CollectResult, console: Console, platform_url: str | None = None) -> None:
    posted = {k: result.results_posted.get(k, 0) for k in ("sent", "failed", "superseded", "repeated")}
    if any(posted.values()):
        console.print(text("ferry.posted_line", **posted))
    console.print(text("ferry.collect_line", pulled=result.pulled, sent=result.sent_versions, scans=result.scans,
                       batches=", ".join(map(str, result.batches)) or "-"))
    _gap_lines(result, console)
    for region in result.skipped_regions:
        console.print(text("run.region_forbidden", value=region))
    if result.status != "completed":
        _failure(result, console, platform_url)


def render_load(result: LoadResult, console: Console) -> None:
    tally = result.tally
    console.print(text("ferry.load_line", imported=", ".join(result.imported) or "-", pulled=tally.pulled,
                       new=tally.new_versions, duplicates=result.duplicates, acks=result.acks))
    if tally.by_state.get("linked"):
        console.print(text("run.linked_line", count=tally.by_state["linked"]))
    for kind, n in sorted(tally.conflicts.items()):
        console.print(text("run.conflict_line", kind=_label("conflict_kind", kind), count=n))
    seal = result.after.get("seal") or {}
    if any(seal.values()):
        console.print(text("run.seal_line", **seal))
    if result.result_batches:
        console.print(text("ferry.results_line", batches=", ".join(map(str, result.result_batches)),
                           count=result.results))
    if result.held:
        console.print(text("ferry.held_line", count=result.held))
    _gap_lines(result, console)
    report = result.after.get("report") or {}
    for path in report.get("paths", []):
        console.print(text("report.written", count=report["unsynced"], path=path))
    _problems(result.problems, console)


def _gap_lines(result: CollectResult | LoadResult, console: Console) -> None:
    for sender, gap in result.waiting.items():
        console.print(text("ferry.waiting_line", sender=sender, missing=gap["missing"],
                           held=", ".join(map(str, gap["held"]))))
    for name, reason in result.quarantined:
        console.print(text("ferry.quarantined_line", file=name, reason=text(f"ferry.bad.{reason}")))
