"""The sync's progress display and the end-of-run summary as the IT person reads them (issue 26,
findings 7 and 9)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from rich.console import Console
from structlog.testing import capture_logs

from bridge import summary
from bridge.progress import SyncProgress
from sync.engine import RunResult
from sync.process import Tally


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tally(pulled: int, new: int, applied: int = 0, conflicts: int = 0) -> Tally:
    tally = Tally(pulled=pulled, new_versions=new)
    tally.by_state.update({"applied": applied, "unchanged": pulled - new, "conflict": conflicts})
    tally.conflicts.update({"materials_incomplete": conflicts} if conflicts else {})
    return tally


def test_on_a_terminal_the_display_shows_pages_records_scans_rate_and_share():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    clock = Clock()
    since = datetime(2026, 11, 1)
    with SyncProgress(console, scans=lambda: 7, clock=clock) as progress:
        assert progress.progress is not None
        progress.on_page("feed:5301", since, since + timedelta(days=1), _tally(500, 500))
        clock.now += 10
        shown = progress.figures("feed:5301", since, since + timedelta(days=16), _tally(1500, 1200, 900, 20))
        progress.on_page("feed:5301", since, since + timedelta(days=16), _tally(1500, 1200, 900, 20))
    assert shown["pages"] == 2 and shown["scans"] == 7 and shown["decided"] == 920 and shown["conflicts"] == 20
    assert shown["rate"] == 100.0  # 1,000 records in 10 s since the scope began
    assert 0 < shown["share"] < 1
    screen = out.getvalue()
    assert "地区 5301" in screen and "记录 1500" in screen and "扫描件 7" in screen and "条/秒" in screen


def test_off_a_terminal_there_is_no_display_only_a_log_line_now_and_then():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    clock = Clock()
    with capture_logs() as logs:
        with SyncProgress(console, clock=clock, interval=30) as progress:
            assert progress.progress is None
            for i in range(5):
                progress.on_page("feed:*", None, None, _tally(100 * (i + 1), 10))
                clock.now += 10
    assert out.getvalue() == ""
    lines = [entry for entry in logs if entry["event"] == "sync_progress"]
    assert len(lines) == 1  # 50 s of pages, one line every 30 s
    assert lines[0]["pulled"] == 400 and lines[0]["pages"] == 4 and "share" not in lines[0]


def test_a_first_run_has_no_estimate_of_time_left():
    progress = SyncProgress(Console(file=io.StringIO()))
    assert progress.figures("feed:*", None, datetime(2026, 11, 1), _tally(1, 1))["share"] is None


def _rendered(result: RunResult, url: str | None = "https://platform.example/open/v1") -> str:
    out = io.StringIO()
    summary.render(result, Console(file=out, width=200), url)
    return out.getvalue()


def test_a_run_stopped_before_deciding_anything_prints_its_cause_not_an_empty_table():
    result = RunResult("r1", "incomplete", _tally(0, 0), problems=[
        "RetryBudgetExhausted: GET /pension/transactions: gave up after retries: ConnectError: [Errno 111]"])
    shown = _rendered(result)
    first = shown.splitlines()[0]
    assert "https://platform.example/open/v1" in first and "BRIDGE_PLATFORM_URL" in first
    assert "┏" not in shown and "本次同步汇总" not in shown
    assert "ConnectError" in shown  # the detail follows the Chinese line


def test_a_refusal_mid_run_is_not_called_the_platform_being_down():
    result = RunResult("r2", "incomplete", _tally(600, 600, 500), problems=["FatalError: 40101: bad signature"])
    shown = _rendered(result)
    assert "本次同步汇总" in shown  # something was decided: its table stands
    assert "拒绝" in shown and "持续无法访问" not in shown and "40101" in shown


def test_a_database_failure_mid_run_is_named_as_such():
    result = RunResult("r3", "incomplete", _tally(0, 0), problems=["OperationalError: (psycopg.OperationalError) x"])
    shown = _rendered(result)
    assert "数据库" in shown.splitlines()[0] and "平台" not in shown.splitlines()[0]


def test_a_collector_whose_platform_went_down_names_the_url():
    from types import SimpleNamespace

    result = SimpleNamespace(results_posted={}, pulled=0, sent_versions=0, scans=0, batches=[], waiting={},
                             quarantined=[], skipped_regions=[], status="incomplete",
                             problems=["RetryBudgetExhausted: GET /pension/transactions: gave up after retries"])
    out = io.StringIO()
    summary.render_collect(result, Console(file=out, width=200), "https://platform.example/open/v1")
    shown = out.getvalue()
    assert "平台持续无法访问（https://platform.example/open/v1，BRIDGE_PLATFORM_URL）" in shown
    assert "RetryBudgetExhausted" in shown
