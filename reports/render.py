"""The unsynced report as xlsx, html, csv or json; each streams its rows."""

from __future__ import annotations

import csv
import heapq
import json
import os
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, select_autoescape

from config.catalogue import text
from mapping.printable import without_controls
from reports import xlsx
from reports.cells import csv_row, sheet_cell, sheet_row, shown
from reports.unsynced import COLUMNS, Filters, Row, Summary, UnsyncedReport, collect

FORMATS = ("xlsx", "html", "csv", "json")
HTML_ROWS = 2000
_env = Environment(loader=PackageLoader("reports"), autoescape=select_autoescape(["html", "j2"]))


def headers() -> list[str]:
    return [text(f"report.column.{c}") for c in COLUMNS]


def describe(f: Filters) -> str:
    parts = [f"{k}={v}" for k, v in vars(f).items() if v not in (None, "")]
    return "，".join(parts) or text("report.no_filters")


def write(report: UnsyncedReport, f: Filters, fmt: str, path: Path) -> tuple[int, Summary]:
    """Write the report; returns the number of rows and the summary."""
    return write_many(report, f, {fmt: path})


def write_many(report: UnsyncedReport, f: Filters, paths: dict[str, Path]) -> tuple[int, Summary]:
    """Write the report in several formats from one pass over the databases."""
    writers: list[_Writer] = []
    try:
        for fmt, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            writers.append(_WRITERS[fmt](path, report, f))
        summary = Summary()
        for row, summary in collect(report, f):  # noqa: B007 - the last summary is the whole one
            cells = row.cells()
            for writer in writers:
                writer.add(row, cells)
        for writer in writers:
            writer.finish(summary)
    except BaseException:
        for writer in writers:
            writer.discard()
        raise
    return summary.total, summary


class _Writer(Protocol):
    """One format's file, written row by row."""

    def add(self, row: Row, cells: list[Any]) -> None: ...

    def finish(self, summary: Summary) -> None: ...

    def discard(self) -> None: ...


class _File:
    """A report file written beside its destination and moved into place when complete, so that
    nobody opens half a report, and a report that failed leaves nothing behind."""

    def __init__(self, path: Path, **how: Any) -> None:
        self.path, self.partial = path, path.with_name(f".{path.name}.partial")
        self.fh = self.partial.open("w", **how)

    def done(self) -> None:
        self.fh.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        self.fh.close()
        self.partial.unlink(missing_ok=True)


class _Csv(_File):
    def __init__(self, path: Path, report: UnsyncedReport, f: Filters) -> None:
        super().__init__(path, encoding="utf-8-sig", newline="")  # the BOM lets Excel read UTF-8
        self.writer = csv.writer(self.fh, quoting=csv.QUOTE_ALL)  # every cell quoted, as OWASP advises
        self.writer.writerow(headers())

    def add(self, row: Row, cells: list[Any]) -> None:
        self.writer.writerow([shown(value) for value in csv_row(cells)])

    def finish(self, summary: Summary) -> None:
        self.done()


class _Json(_File):
    def __init__(self, path: Path, report: UnsyncedReport, f: Filters) -> None:
        super().__init__(path, encoding="utf-8")
        self.count = 0
        self.fh.write(json.dumps({"title": text("report.title"), "generated_at": f"{report.now:%Y-%m-%d %H:%M:%S}",
                                  "filters": {k: str(v) for k, v in vars(f).items() if v is not None}},
                                 ensure_ascii=False)[:-1])
        self.fh.write(', "rows": [')

    def add(self, row: Row, cells: list[Any]) -> None:
        record = {**{k: _plain(v) for k, v in row.as_dict().items()},
                  "since": row.since.isoformat(sep=" ") if row.since else None, "days": round(row.days, 2)}
        self.fh.write(("," if self.count else "") + "\n" + json.dumps(record, ensure_ascii=False))
        self.count += 1

    def finish(self, summary: Summary) -> None:
        groups = {title: {_plain(label): n for label, n in items} for title, items in summary.groups()}
        self.fh.write('\n], "summary": ' + json.dumps({"total": summary.total, **groups}, ensure_ascii=False) + "}\n")
        self.done()


def _plain(value: Any) -> Any:
    """Text without control characters (JSON would escape them, but not every reader shows them so)."""
    return without_controls(value) if type(value) is str else value


def display_width(value: Any) -> int:
    """Columns a value takes in Excel: CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(shown(value)))


class _Xlsx:
    """The summary sheet first, then every row, its header frozen and filtered.

    The first rows are held back to size the columns; the rest stream into the sheet. The time the
    wait began is a date cell (``yyyy-mm-dd hh:mm``), so Excel sorts and filters it as a date; the
    conflict's number and the days waited are numbers; everything else is text.
    """

    SAMPLE = 200
    ROWS = xlsx.MAX_ROWS  # of the rows sheet, its header included

    def __init__(self, path: Path, report: UnsyncedReport, f: Filters) -> None:
        self.report, self.filters = report, f
        self.names = (text("report.summary_sheet"), text("report.rows_sheet"))
        self.book = xlsx.Book(path, self.names)
        self.head: list[list[Any]] | None = []
        self.detail: xlsx.Sheet | None = None
        self.left_out = 0  # rows beyond what one sheet holds: counted, and said on the summary sheet

    def _open(self) -> xlsx.Sheet:
        names = headers()
        widths = [max([display_width(h)] + [display_width(cells[i]) for cells in self.head or ()])
                  for i, h in enumerate(names)]
        detail = self.book.sheet(self.names[1], widths=[min(60, w + 2) for w in widths], frozen_rows=1)
        detail.append(names, bold=True)
        head, self.head, self.detail = self.head or [], None, detail
        for cells in head:
            self._put(detail, cells)
        return detail

    def _put(self, detail: xlsx.Sheet, cells: list[Any]) -> None:
        if detail.rows >= self.ROWS:
            self.left_out += 1
        else:
            detail.append(cells)

    def add(self, row: Row, cells: list[Any]) -> None:
        cells = sheet_row(cells)
        if self.head is not None:
            self.head.append(cells)
            if len(self.head) < self.SAMPLE:
                return
            self._open()
        elif self.detail is not None:
            self._put(self.detail, cells)

    def finish(self, summary: Summary) -> None:
        detail = self.detail if self.detail is not None else self._open()  # fewer rows than the sample
        detail.autofilter()
        detail.close()
        with self.book.sheet(self.names[0], widths=[40, 12]) as first:
            first.append([text("report.title")], bold=True)
            first.append([text("report.generated", at=f"{self.report.now:%Y-%m-%d %H:%M}",
                                filters=describe(self.filters))])
            first.append([text("report.total", count=summary.total), summary.total])
            if self.left_out:
                first.append([text("report.xlsx_capped", shown=f"{summary.total - self.left_out:,}",
                                   more=f"{self.left_out:,}")], bold=True)
            for title, items in summary.groups():
                first.append([])
                first.append([title], bold=True)
                for label, n in items:
                    first.append([sheet_cell(label), n])
        self.book.close()

    def discard(self) -> None:
        self.book.discard()


def bars(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    top = max((n for _, n in items), default=0) or 1
    return [{"label": label, "count": n, "width": round(100 * n / top, 1)} for label, n in items]


class _Html:
    """The summary and the oldest rows (only the shown rows are kept)."""

    def __init__(self, path: Path, report: UnsyncedReport, f: Filters) -> None:
        self.path, self.report, self.filters = path, report, f
        self.oldest: list[tuple[float, int, list[Any]]] = []
        self.seen = 0

    def add(self, row: Row, cells: list[Any]) -> None:
        self.seen += 1
        # the older first; among equals, the earlier
        item = (row.days, -self.seen, [_plain(shown(value)) for value in cells])
        if len(self.oldest) < HTML_ROWS:
            heapq.heappush(self.oldest, item)
        elif item > self.oldest[0]:
            heapq.heapreplace(self.oldest, item)

    def finish(self, summary: Summary) -> None:
        shown = [cells for _, _, cells in sorted(self.oldest, reverse=True)]
        page = _env.get_template("unsynced.html.j2").render(
            t=text, title=text("report.title"),
            generated=text("report.generated", at=f"{self.report.now:%Y-%m-%d %H:%M}", filters=describe(self.filters)),
            total=summary.total,
            groups=[(title, bars([(_plain(label), n) for label, n in items])) for title, items in summary.groups()],
            headers=headers(), rows=shown, capped=summary.total > len(shown), shown=len(shown))
        page_file = _File(self.path, encoding="utf-8")
        page_file.fh.write(page)
        page_file.done()

    def discard(self) -> None:
        pass  # nothing is written before the rows are all in


_WRITERS: dict[str, Callable[[Path, UnsyncedReport, Filters], _Writer]] = {
    "xlsx": _Xlsx, "html": _Html, "csv": _Csv, "json": _Json}


def default_path(folder: Path, fmt: str, now: datetime) -> Path:
    """A dated file in the reports folder."""
    return folder / f"unsynced-{now:%Y%m%d}.{fmt}"
