"""How far a sync has got, while it runs (issue 26, finding 9).

On a terminal: a Rich progress display per region scope — pages, records, new versions, scans,
decisions, conflicts, the rate and the time left. The time left is estimated from the feed's
position: the feed is read in ``updated_at`` order from the scope's checkpoint up to now, so the
page's position between the two is the share done (a first run, with no checkpoint, has no
estimate). Not on a terminal (cron, systemd, a pipe): no display, a plain ``sync_progress`` log
line at most every ``interval`` seconds instead.

The engine calls ``on_page`` (``Parts.progress``); it never imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

from config.catalogue import text
from mapping.types import now_local

log = structlog.get_logger(__name__)

LOG_EVERY = 30.0  # seconds between progress log lines when not on a terminal


class SyncProgress:
    """A context manager; ``on_page`` is the engine's progress hook."""

    def __init__(self, console: Console, scans: Callable[[], int] = lambda: 0, interval: float = LOG_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.scans, self.interval, self.clock = console, scans, interval, clock
        self.live = console.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.pages: dict[str, int] = {}
        self.started: dict[str, tuple[float, datetime, int]] = {}  # scope -> (monotonic, now, pulled)
        self.last_log = clock()

    def __enter__(self) -> SyncProgress:
        if self.live:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                     TextColumn("{task.fields[counts]}"), TextColumn("{task.fields[rate]}"),
                                     TimeRemainingColumn(), console=self.console, transient=False)
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def figures(self, scope: str, since: datetime | None, position: datetime | None, tally: Any) -> dict[str, Any]:
        """What the display and the log line show for ``scope`` now."""
        self.pages[scope] = self.pages.get(scope, 0) + 1
        if scope not in self.started:
            self.started[scope] = (self.clock(), now_local(), tally.pulled)
        began, until, pulled_before = self.started[scope]
        elapsed = max(self.clock() - began, 1e-6)
        share = None
        if since is not None and position is not None and until > since:
            share = min(max((position - since) / (until - since), 0.0), 1.0)
        decided = sum(n for state, n in tally.by_state.items() if state != "unchanged")
        return {"scope": scope, "pages": self.pages[scope], "pulled": tally.pulled, "new": tally.new_versions,
                "scans": self.scans(), "decided": decided, "conflicts": sum(tally.conflicts.values()),
                "rate": round((tally.pulled - pulled_before) / elapsed, 1), "share": share}

    def on_page(self, scope: str, since: datetime | None, position: datetime | None, tally: Any) -> None:
        shown = self.figures(scope, since, position, tally)
        if self.progress is None:
            if self.clock() - self.last_log >= self.interval:
                self.last_log = self.clock()
                log.info("sync_progress", **{k: v for k, v in shown.items() if v is not None})
            return
        if scope not in self.tasks:
            region = scope.removeprefix("feed:")
            label = text("cli.progress.scope", scope=region) if region != "*" else text("cli.progress.all")
            self.tasks[scope] = self.progress.add_task(label, total=None, counts="", rate="")
        counts = text("cli.progress.counts", **{k: shown[k] for k in ("pages", "pulled", "new", "scans",
                                                                        "decided", "conflicts")})
        rate = text("cli.progress.rate", rate=shown["rate"])
        if shown["share"] is None:
            self.progress.update(self.tasks[scope], counts=counts, rate=rate)
        else:
            self.progress.update(self.tasks[scope], total=1000, completed=round(shown["share"] * 1000),
                                 counts=counts, rate=rate)
