"""Cells of the tabular reports (CSV, xlsx): platform text as text, never as a formula.

An agent's name such as ``=HYPERLINK("http://…","点击")`` written as it is becomes a live formula
when the CSV is opened in Excel or WPS (CSV injection). As OWASP advises, a cell whose text starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single quote, which
spreadsheets show as text; the CSV writer also quotes every cell. Leading spaces do not hide a
formula here: some spreadsheets trim them. Control characters are removed first (an ESC sequence
reaches a terminal that ``cat``s the file), so a tab or CR can no longer lead either.

Only text is touched: numbers stay numbers, and region codes and ID numbers, which are text, stay
exactly as they are in the xlsx (string cells) and the HTML and JSON.

A CSV cell carries no type, so Excel and WPS read a region code ``530102001001`` as the number
5.30102E+11 and a serial ``0012345`` as 12345. :func:`csv_row` therefore also marks text that a
spreadsheet would read as a number or a date with the same leading single quote, the text marker
the OWASP guidance (and ASVS 1.2.10) prescribes: not ``="…"``, which is itself a formula, and not a
leading tab, which is one of the characters ASVS says to escape. Both Excel and LibreOffice then
keep the cell as text with its leading zeros; the quote itself stays visible on opening. The xlsx
is the file for reading and sorting, the JSON for machines (docs/contract-readings.md).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from mapping.printable import without_controls

# The OWASP characters, after any leading spaces, and their full-width forms; or a leading tab or CR.
_FORMULA_START = re.compile(r"[\t\r]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_RISKY = re.compile(r"^\s*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029"
                    r"\u202a-\u202e\u2066-\u2069\ufeff]")


def sheet_cell(value: Any) -> Any:
    """A value as a spreadsheet cell may hold it: text without controls, and never a formula."""
    if type(value) is not str or not _RISKY.search(value):
        return value
    cleaned = without_controls(value)
    # On what is left (a control in front must not hide a formula), or a tab or CR that led it.
    formula = _FORMULA_START.match(cleaned) or value[:1] in ("\t", "\r")
    return "'" + cleaned if formula else cleaned


# The same over a whole row joined by U+E000: a cell that needs it is always found; a false find
# (a U+E000 sent by the platform, a negative number) only sends the row through sheet_cell.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_ROW_FORMULA = re.compile(r"\ue000\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")


def sheet_row(cells: list[Any]) -> list[Any]:
    """Every cell of a row through :func:`sheet_cell`.

    Most rows need nothing: one search over the row joined decides it (a report has 150,000)."""
    joined = "\ue000" + "\ue000".join(map(str, cells))
    if not _CONTROLS.search(joined) and not _ROW_FORMULA.search(joined):
        return cells
    return [sheet_cell(value) for value in cells]


# Text a spreadsheet opening a CSV reads as a number, a percentage, an amount or a date: digits (ASCII
# or full-width) with the signs, separators and exponent those take. A sign in front is a formula
# character and sheet_cell has marked it already.
_NUMBER_LIKE = re.compile(r"\s*(?:[(（$¥￥]\s*)?[0-9\uff10-\uff19][0-9\uff10-\uff19\s.,:/%()（）\-]*"
                          r"(?:[eE][+\-]?[0-9]+\s*)?")  # no two repeats of spaces side by side: linear time


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: :func:`sheet_cell`, and text that reads as a number kept text."""
    value = sheet_cell(value)
    return "'" + value if type(value) is str and _NUMBER_LIKE.fullmatch(value) else value


def csv_row(cells: list[Any]) -> list[Any]:
    """Every cell of a row through :func:`csv_cell` (times and numbers left to the writer)."""
    cells = sheet_row(cells)
    return ["'" + v if type(v) is str and _NUMBER_LIKE.fullmatch(v) else v for v in cells]


def shown(value: Any) -> Any:
    """A cell as a text-only format (CSV, HTML) shows it: a time to the minute, a day as itself,
    nothing for None; anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(" ", "minutes")
    if isinstance(value, date):
        return value.isoformat()
    return value
