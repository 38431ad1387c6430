"""The unsynced report as xlsx, html, csv or json; each streams its rows."""

from __future__ import annotations

import csv
import heapq
import json
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

from config.catalogue import text
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
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = collect(report, f)
    summary = {"xlsx": _xlsx, "html": _html, "csv": _csv, "json": _json}[fmt](stream, path, report, f)
    return summary.total, summary


def _rows(stream) -> tuple[Iterator[Row], Callable[[], Summary]]:
    box: dict[str, Summary] = {"summary": Summary()}

    def rows() -> Iterator[Row]:
        for row, summary in stream:
            box["summary"] = summary
            yield row
    return rows(), lambda: box["summary"]


def _csv(stream, path: Path, report, f) -> Summary:
    rows, summary = _rows(stream)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # the BOM lets Excel read UTF-8
        writer = csv.writer(fh)
        writer.writerow(headers())
        for row in rows:
            writer.writerow(row.cells())
    return summary()


def _json(stream, path: Path, report: UnsyncedReport, f: Filters) -> Summary:
    rows, summary = _rows(stream)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"title": text("report.title"), "generated_at": f"{report.now:%Y-%m-%d %H:%M:%S}",
                             "filters": {k: str(v) for k, v in vars(f).items() if v is not None}},
                            ensure_ascii=False)[:-1])
        fh.write(', "rows": [')
        for i, row in enumerate(rows):
            record = {**row.__dict__, "since": row.since.isoformat(sep=" ") if row.since else None,
                      "days": round(row.days, 2)}
            fh.write(("," if i else "") + "\n" + json.dumps(record, ensure_ascii=False))
        fh.write('\n], "summary": ' + json.dumps(summary().as_dict(), ensure_ascii=False) + "}\n")
    return summary()


def display_width(value: Any) -> int:
    """Columns a value takes in Excel: CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def _cell(value: Any) -> Any:
    """What the platform sent is untrusted: control characters Excel refuses are dropped."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:32000] if isinstance(value, str) else value


def _xlsx(stream, path: Path, report: UnsyncedReport, f: Filters) -> Summary:
    rows, summary = _rows(stream)
    book = Workbook(write_only=True)
    first, detail = book.create_sheet(text("report.summary_sheet")), book.create_sheet(text("report.rows_sheet"))
    head = list(islice(rows, 200))
    widths = [max([display_width(h)] + [display_width(r.cells()[i]) for r in head]) for i, h in enumerate(headers())]
    for i, width in enumerate(widths, start=1):
        detail.column_dimensions[get_column_letter(i)].width = min(60, width + 2)
    detail.freeze_panes = "A2"
    detail.append(headers())
    count = 0
    for row in [*head, *rows]:
        detail.append([_cell(v) for v in row.cells()])
        count += 1
    detail.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    done = summary()
    first.column_dimensions["A"].width = 40
    first.column_dimensions["B"].width = 12
    first.append([text("report.title")])
    first.append([text("report.generated", at=f"{report.now:%Y-%m-%d %H:%M}", filters=describe(f))])
    first.append([text("report.total", count=done.total), done.total])
    for title, items in done.groups():
        first.append([])
        first.append([title])
        for label, n in items:
            first.append([_cell(label), n])
    book.save(path)
    return done


def bars(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    top = max((n for _, n in items), default=0) or 1
    return [{"label": label, "count": n, "width": round(100 * n / top, 1)} for label, n in items]


def _html(stream, path: Path, report: UnsyncedReport, f: Filters) -> Summary:
    rows, summary = _rows(stream)
    oldest = heapq.nlargest(HTML_ROWS, rows, key=lambda r: r.days)  # only the shown rows are kept
    done = summary()
    page = _env.get_template("unsynced.html.j2").render(
        t=text, title=text("report.title"), generated=text("report.generated", at=f"{report.now:%Y-%m-%d %H:%M}",
                                                           filters=describe(f)),
        total=done.total, groups=[(title, bars(items)) for title, items in done.groups()], headers=headers(),
        rows=[r.cells() for r in oldest], capped=done.total > len(oldest), shown=len(oldest))
    path.write_text(page, encoding="utf-8")
    return done


def default_path(folder: Path, fmt: str, now: datetime) -> Path:
    """A dated file in the reports folder."""
    return folder / f"unsynced-{now:%Y%m%d}.{fmt}"
