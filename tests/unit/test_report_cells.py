"""CSV cells a spreadsheet reads as typed: codes and serials kept text, formulas never live."""

from __future__ import annotations

from datetime import datetime

import pytest

from reports.cells import csv_cell, csv_row, sheet_cell, shown

# What Excel or WPS opening a CSV turns into a number, an amount or a date: kept text by the mark.
NUMBER_LIKE = ["530102001001", "0012345", "110105194912310021", "0503E000", "1e5", "3.50", "1,234", "12%",
               "(12)", "1/2", "3-4", "12:30", " 42 ", "５３０１０２", "¥12", "2026-11-25"]
# Text no spreadsheet reads as a number: left exactly as it is.
TEXT = ["RH530102202611250101", "530102********123X", "11010519491231002X", "张三", "李四(A0017)", "五华区",
        "第 3 号", "", "A0017", "0012345号"]


@pytest.mark.parametrize("value", NUMBER_LIKE)
def test_text_a_spreadsheet_reads_as_a_number_is_marked_text(value):
    assert csv_cell(value) == "'" + value
    assert csv_row(["x", value, "y"]) == ["x", "'" + value, "y"]


@pytest.mark.parametrize("value", TEXT)
def test_other_text_is_left_as_it_is(value):
    assert csv_cell(value) == value and csv_row([value]) == [value]


def test_numbers_stay_numbers_and_formulas_are_neutral_as_before():
    assert csv_row([3, 2.5, None]) == [3, 2.5, None]
    for value in ("=1+1", "-1", "+86 138", "@SUM(A1)", "\t=1", "-2026-11-25"):
        assert csv_cell(value) == sheet_cell(value) and csv_cell(value).startswith("'")
        assert csv_cell(value)[1:2] != "'"  # marked once


def test_shown_writes_times_to_the_minute_and_none_as_nothing():
    assert shown(datetime(2026, 11, 25, 9, 12, 40)) == "2026-11-25 09:12"
    assert shown(datetime(1, 1, 1)) == "0001-01-01 00:00"
    assert shown(datetime(2026, 11, 25).date()) == "2026-11-25"
    assert shown(None) == "" and shown(3) == 3 and shown("x") == "x"


def test_a_long_run_of_spaces_costs_linear_time():
    """A value of the platform's (a name from a 256 KiB payload) with a long run of spaces must
    not make the number check backtrack: 100,000 spaces took minutes with overlapping repeats."""
    import time

    started = time.process_time()
    for value in ("1" + " " * 100_000 + "x", " " * 100_000 + "x", "(" + " " * 100_000 + "1x"):
        assert csv_cell(value) == value
    assert time.process_time() - started < 2.0
