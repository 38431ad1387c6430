"""The report's xlsx writer, read back by openpyxl and checked part by part as XML."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from reports import render, xlsx
from reports.xlsx import Book, clean, column

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # openpyxl: "workbook contains no default style"


def test_column_letters():
    assert [column(i) for i in (1, 26, 27, 52, 53, 702, 703, 16384)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"]


def test_sheets_in_declared_order_with_widths_frozen_header_and_filter(tmp_path):
    path = tmp_path / "r.xlsx"
    with Book(path, ["汇总", "明细 & 'x' 表"]) as book:
        with book.sheet("明细 & 'x' 表", widths=[12, 30.5], frozen_rows=1) as rows:  # written first, shown second
            rows.append(["类别", "原因"], bold=True)
            rows.append(["待处理", "身份证号 <校验位> 不对 & 其他"])
            rows.append([None, 3.5])
            rows.autofilter()
        with book.sheet("汇总", widths=[40]) as first:
            first.append(["共 2 条", 2])
    wb = load_workbook(path)
    assert wb.sheetnames == ["汇总", "明细 & 'x' 表"]
    detail = wb["明细 & 'x' 表"]
    assert [list(r) for r in detail.values] == [["类别", "原因"], ["待处理", "身份证号 <校验位> 不对 & 其他"],
                                                [None, 3.5]]
    assert detail.freeze_panes == "A2" and detail.auto_filter.ref == "A1:B3"
    # XlsxWriter stores a width as Excel does, with the cell's padding added (12 -> 12.71)
    assert 12 <= detail.column_dimensions["A"].width < 13 and 30.5 <= detail.column_dimensions["B"].width < 31.5
    assert detail.print_title_rows == "$1:$1" and detail.page_setup.orientation == "landscape"
    assert detail.sheet_properties.pageSetUpPr.fitToPage and detail.page_setup.fitToHeight == 0  # width: 1, the default
    assert detail["A1"].font.b and not detail["A2"].font.b
    assert list(wb["汇总"].values) == [("共 2 条", 2)] and wb["汇总"].freeze_panes is None
    with zipfile.ZipFile(path) as z:  # every part is well-formed XML; the filter has Excel's hidden name
        for name in z.namelist():
            ElementTree.fromstring(z.read(name))
        assert "'明细 &amp; ''x'' 表'!$A$1:$B$3" in z.read("xl/workbook.xml").decode()
    assert not list(tmp_path.glob(".*partial"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.integers(-2**53, 2**53), st.floats(allow_nan=True),
                          st.none()), max_size=6))
def test_any_value_round_trips_as_excel_can_hold_it(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("x") / "v.xlsx"
    with Book(path, ["s"]) as book, book.sheet("s") as sheet:
        sheet.append(values)
    # XlsxWriter writes a CR as the escape _x000D_, which Excel reads back as CR and openpyxl leaves as it is.
    got = [g.replace("_x000D_", "\r") if isinstance(g, str) else g
           for g in next(load_workbook(path)["s"].iter_rows(values_only=True), ())]
    expected = [clean(v) if isinstance(v, str) else
                str(v) if isinstance(v, float) and not abs(v) <= xlsx.EXCEL_MAX else v  # inf, nan, 1.8e308: text
                for v in values]
    got, expected = _trimmed(got), _trimmed(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):  # Excel keeps 15 significant digits of a number, as XlsxWriter writes them
        assert g == (pytest.approx(e, rel=1e-15) if isinstance(e, float) else e)


def _trimmed(cells: list) -> list:
    """An empty text and no cell read alike; trailing empty cells are not written."""
    cells = [None if c == "" else c for c in cells]
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def test_control_characters_dropped_and_long_text_cut():
    assert clean("a\x00b\x1fc\td\ne") == "abc\td\ne"
    assert len(clean("字" * 40000)) == xlsx.MAX_TEXT


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "r.xlsx"
    with pytest.raises(RuntimeError), Book(path, ["s"]) as book, book.sheet("s") as sheet:
        sheet.append(["x"])
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_a_full_sheet_is_refused_and_the_report_says_what_it_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3)
    with Book(tmp_path / "s.xlsx", ["s"]) as book, book.sheet("s") as sheet:
        for _ in range(3):
            sheet.append(["x"])
        with pytest.raises(ValueError, match="full"):
            sheet.append(["x"])


def test_undeclared_or_repeated_sheets_are_refused(tmp_path):
    with Book(tmp_path / "s.xlsx", ["a", "b"]) as book:
        book.sheet("a").close()
        with pytest.raises(ValueError):
            book.sheet("a")
        with pytest.raises(ValueError):
            book.sheet("c")
    assert load_workbook(tmp_path / "s.xlsx").sheetnames == ["a", "b"]  # b, never written, is empty
    with pytest.raises(ValueError):
        Book(tmp_path / "t.xlsx", ["a", "a"])


def test_the_report_caps_its_rows_sheet_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(render._Xlsx, "ROWS", 4)  # the header and three rows

    class Report:
        now = render.datetime(2026, 11, 27, 12, 0)

    writer = render._Xlsx(tmp_path / "r.xlsx", Report(), render.Filters())
    summary = render.Summary()
    from reports.unsynced import Row
    for i in range(5):
        row = Row("pending", f"T{i}", "530102001001", "", "", "", "", "", "", "pending", None, 1.0)
        summary.add(row, "530102")
        writer.add(row, row.cells())
    writer.finish(summary)
    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb["明细"].max_row == 4
    said = [r[0] for r in wb["汇总"].values]
    assert any("另有 2 条未列入" in (s or "") for s in said)


@pytest.mark.parametrize("before", [1, 500])  # in the rows held back to size the columns, and past them
def test_a_report_that_fails_half_way_leaves_no_file_in_any_format(tmp_path, before):
    import threading

    from reports.unsynced import Row

    class Failing:
        now = render.datetime(2026, 11, 27, 12, 0)

        def rows(self, f):
            for i in range(before):
                yield Row("pending", f"T{i}", "530102001001", "", "", "", "", "", "", "pending", None, 1.0)
            raise RuntimeError("the database went away")

        def county(self, row):
            return "530102"

    paths = {fmt: tmp_path / f"r.{fmt}" for fmt in render.FORMATS}
    with pytest.raises(RuntimeError, match="went away"):
        render.write_many(Failing(), render.Filters(), paths)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "xlsx-deflate"]


def test_text_that_looks_like_a_formula_is_an_inline_string_never_a_formula(tmp_path):
    path = tmp_path / "f.xlsx"
    values = ['=HYPERLINK("http://evil.example/","x")', "+1", "-1", "@SUM(A1)", "=1+1\x1b[2J", "530102001001"]
    with Book(path, ["s"]) as book, book.sheet("s") as sheet:
        sheet.append(values)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml and xml.count('t="inlineStr"') == len(values)
    cells = next(load_workbook(path)["s"].iter_rows())
    assert [c.data_type for c in cells] == ["s"] * len(values)
    assert [c.value for c in cells] == [*values[:4], "=1+1[2J", "530102001001"]


def test_times_are_date_cells_with_a_number_format_and_the_unwritable_are_text(tmp_path):
    from datetime import date, datetime, timedelta, timezone

    path = tmp_path / "d.xlsx"
    taken = datetime(2026, 11, 25, 9, 12, 40)
    values = [taken, date(2026, 11, 25), taken.replace(tzinfo=timezone(timedelta(hours=8))),
              datetime(1, 1, 1, 0, 0), date(1899, 12, 31), None, "2026-11-25 09:12"]
    with Book(path, ["s"]) as book, book.sheet("s") as sheet:
        sheet.append(values)
    cells = next(load_workbook(path)["s"].iter_rows(max_col=len(values)))
    assert cells[0].is_date and cells[0].value == taken and cells[0].number_format == "yyyy-mm-dd hh:mm"
    assert cells[1].is_date and cells[1].value == datetime(2026, 11, 25) and cells[1].number_format == "yyyy-mm-dd"
    assert cells[2].is_date and cells[2].value == taken  # at its wall-clock time: Excel has no zones
    # Before Excel's first day a date would be a negative serial (shown ####): its text instead.
    assert (cells[3].value, cells[3].data_type) == ("0001-01-01 00:00", "s")
    assert (cells[4].value, cells[4].data_type) == ("1899-12-31", "s")
    assert cells[5].value is None
    assert (cells[6].value, cells[6].data_type) == ("2026-11-25 09:12", "s")  # text that looks like a date stays text


def test_the_report_writes_when_the_wait_began_as_a_date_and_none_as_an_empty_cell(tmp_path):
    from reports.unsynced import COLUMNS, Row

    class Report:
        now = render.datetime(2026, 11, 27, 12, 0)

        def rows(self, f):
            yield Row("pending", "T1", "530102001001", "", "", "", "", "", "", "pending",
                      render.datetime(2026, 11, 25, 9, 12, 40), 2.1, resident="张三", conflict_id=7)
            yield Row("hand_typed", None, "530102001001", "", "", "", "", "", "", "hand_typed", None, 0.0)

        def county(self, row):
            return "530102"

    render.write(Report(), render.Filters(), "xlsx", tmp_path / "r.xlsx")
    rows = list(load_workbook(tmp_path / "r.xlsx")["明细"].iter_rows(min_row=2, max_col=len(COLUMNS)))
    since, number, name = (COLUMNS.index(c) for c in ("since", "conflict_id", "resident"))
    assert rows[0][since].is_date and rows[0][since].value == render.datetime(2026, 11, 25, 9, 12, 40)
    assert rows[0][number].value == 7 and rows[0][name].value == "张三"
    assert rows[1][since].value is None and rows[1][number].value is None  # missing: an empty cell, no crash
