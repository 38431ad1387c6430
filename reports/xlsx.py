"""The report's workbooks, written with XlsxWriter in constant-memory mode.

A thin layer that keeps what the report needs of a workbook in one place:

- sheets named up front in their tab order and written in any order (the summary is known only
  once every row is in, yet comes first), each row by row, so memory does not grow with the rows;
- text as text and never as a formula, a number or a link, whatever it looks like (what the
  platform sent is untrusted; XlsxWriter's own conversions are all switched off and only
  ``write_string``, ``write_number`` and ``write_datetime`` are called);
- a ``datetime`` or ``date`` as a date cell with its number format (``yyyy-mm-dd hh:mm``,
  ``yyyy-mm-dd``), so Excel sorts and filters it as a date; one Excel cannot hold (before 1900 or
  after 9999) as its text;
- column widths, a bold frozen header, an autofilter, and a page set up for printing (landscape,
  fitted to the paper's width, the header repeated on every page);
- the file written beside its destination and renamed into place when complete, so a reader never
  sees half a workbook, and nothing left behind when writing fails.

XlsxWriter rather than a writer of our own: the report's cost is the rows, not the library, and
the format is XlsxWriter's to keep right against Excel and WPS.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]  # XlsxWriter ships no type information
from xlsxwriter.worksheet import Worksheet  # type: ignore[import-untyped]

MAX_TEXT = 32767  # Excel's limit on the characters of one cell
MAX_ROWS = 1_048_576
# Characters XML 1.0 cannot carry; what the platform sent is untrusted, so they are dropped.
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False, "use_future_functions": False, "nan_inf_to_errors": False,
            "default_date_format": "yyyy-mm-dd hh:mm"}
DATETIME_FORMAT, DATE_FORMAT = "yyyy-mm-dd hh:mm", "yyyy-mm-dd"
EXCEL_MAX = 9.99999999999999e307  # the largest number a cell holds; a larger one is written as its text
FIRST_DAY = date(1900, 1, 1)  # Excel's first; a date before it would be a negative serial, shown as ####


def column(index: int) -> str:
    """The letters of a 1-based column: 1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def clean(value: str) -> str:
    """A string as a cell can hold it: no characters XML refuses, at most 32,767 of them."""
    if ILLEGAL.search(value):
        value = ILLEGAL.sub("", value)
    return value[:MAX_TEXT]


class Sheet:
    """One worksheet, written row by row; use as a context manager, or close()."""

    def __init__(self, book: Book, sheet: Worksheet, widths: Sequence[float], frozen_rows: int) -> None:
        self.name, self._book, self._sheet = sheet.name, book, sheet
        self.rows, self.width, self.closed = 0, 0, False
        for i, width in enumerate(widths):
            sheet.set_column(i, i, width)
        if frozen_rows:
            sheet.freeze_panes(frozen_rows, 0)
            sheet.repeat_rows(0, frozen_rows - 1)  # printed at the top of every page
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)  # as wide as the paper, as many pages long as it takes
        self._filter = False

    def append(self, values: Sequence[Any], bold: bool = False) -> None:
        """One row: str as text, int and float as numbers, datetime and date as date cells (a
        datetime with a zone at its wall-clock time: Excel has no zones), None and "" as empty cells."""
        if self.rows >= MAX_ROWS:
            raise ValueError(f"sheet {self.name!r} is full: Excel holds {MAX_ROWS:,} rows")
        row, style = self.rows, self._book.bold if bold else None
        self.rows += 1
        last = 0
        for i, value in enumerate(values):
            if value is None or value == "":  # nothing to write: no cell at all
                continue
            kind = type(value)
            if (kind is int or kind is float) and math.isfinite(value) and -EXCEL_MAX <= value <= EXCEL_MAX:
                self._sheet.write_number(row, i, value, style)
            elif kind is datetime or kind is date:
                self._date(row, i, value)
            else:
                self._sheet.write_string(row, i, clean(value if kind is str else str(value)), style)
            last = i + 1
        self.width = max(self.width, last)

    def _date(self, row: int, col: int, value: date) -> None:
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None)
            if value.date() >= FIRST_DAY:
                self._sheet.write_datetime(row, col, value, self._book.datetime_format)
                return
            self._sheet.write_string(row, col, value.isoformat(" ", "minutes"))
        elif value >= FIRST_DAY:
            self._sheet.write_datetime(row, col, value, self._book.date_format)
        else:
            self._sheet.write_string(row, col, value.isoformat())

    def autofilter(self) -> None:
        """An autofilter over the rows written, the first being the header."""
        self._filter = bool(self.rows and self.width)

    def close(self) -> None:
        if not self.closed and self._filter:
            self._sheet.autofilter(0, 0, self.rows - 1, self.width - 1)
        self.closed = True

    def __enter__(self) -> Sheet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Book:
    """A workbook whose sheets are named up front, in their tab order, and written in any order.

    >>> with Book(path, ["汇总", "明细"]) as book:
    ...     with book.sheet("明细", widths=[12, 30], frozen_rows=1) as rows: ...
    ...     with book.sheet("汇总", widths=[40, 12]) as first: ...
    """

    def __init__(self, path: Path, names: Sequence[str]) -> None:
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"sheet names must be distinct and at least one: {names!r}")
        self.path, self.names = Path(path), list(names)
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        self._book = xlsxwriter.Workbook(str(self._partial), _OPTIONS)
        self._sheets = {name: self._book.add_worksheet(name) for name in self.names}
        self.bold = self._book.add_format({"bold": True})
        self.datetime_format = self._book.add_format({"num_format": DATETIME_FORMAT})
        self.date_format = self._book.add_format({"num_format": DATE_FORMAT})
        self._written: dict[str, Sheet] = {}

    def sheet(self, name: str, widths: Sequence[float] = (), frozen_rows: int = 0) -> Sheet:
        if name not in self.names or name in self._written:
            raise ValueError(f"sheet {name!r} is not declared, or was written already")
        for earlier in self._written.values():
            earlier.close()
        self._written[name] = Sheet(self, self._sheets[name], widths, frozen_rows)
        return self._written[name]

    def close(self) -> None:
        """Write the workbook and move the file into place."""
        for sheet in self._written.values():
            sheet.close()
        self._book.close()
        os.replace(self._partial, self.path)

    def discard(self) -> None:
        """Give the file up, whatever state its sheet was in: nothing is left behind. What went
        wrong is the caller's error; errors closing a file about to be removed would only hide it."""
        try:
            self._book.close()
        except Exception:  # noqa: BLE001 - see above
            pass
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> Book:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()
