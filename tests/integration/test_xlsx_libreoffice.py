"""The unsynced report's workbook opened by a real spreadsheet application: LibreOffice, headless.

A file a spreadsheet application refuses (or reads otherwise than written) fails here where
LibreOffice is installed; elsewhere the test is skipped and says so.
"""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest

from reports.xlsx import Book

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")


def test_libreoffice_reads_every_sheet_as_written(tmp_path):
    path = tmp_path / "unsynced.xlsx"
    rows = [["类别", "业务流水号", "行政区划", "代办员", "天数"],
            ["材料不全", "RH530102202611250001", "530102001001", "=HYPERLINK(\"http://x\",\"y\")", 3.5],
            ["待处理", "RH530102202611250002", "530102001002", "'+1", 12]]
    with Book(path, ["汇总", "明细"]) as book:
        with book.sheet("明细", widths=[12, 24, 14, 20, 8], frozen_rows=1) as sheet:
            for row in rows:
                sheet.append(row, bold=row is rows[0])
            sheet.autofilter()
        with book.sheet("汇总", widths=[40, 12]) as first:
            first.append(["共 2 条", 2], bold=True)
    out = tmp_path / "out"
    # The rows sheet is the second: LibreOffice converts one sheet per call, chosen by its 1-based number.
    done = subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
                           "--convert-to", 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,2',
                           "--outdir", str(out), str(path)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    converted = sorted(out.glob("*.csv"))
    assert converted, (done.stdout, done.stderr)
    with converted[0].open(encoding="utf-8") as fh:
        read = list(csv.reader(fh))
    assert read[0] == rows[0]
    assert read[1][:4] == rows[1][:4] and float(read[1][4]) == 3.5  # the formula-like name is text
    assert read[2][1:3] == rows[2][1:3]  # codes stay text: no number, no lost leading digit


def _convert(tmp_path, source, target: str, *options: str) -> list:
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    done = subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
                           *options, "--convert-to", target, "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    converted = sorted(out.iterdir())
    assert converted, (done.stdout, done.stderr)
    return converted


def _report(tmp_path, fmt: str):
    from datetime import datetime

    from reports.render import write
    from reports.unsynced import Filters, Row
    from tests.security.test_reports_cli_files import FakeReport

    rows = [Row("invalid", "RH530102202611250101", "530102001001", "五华区", "李四(A0017)", "参保登记",
                "530102********123X", "数据有误", "缴费档次不对", "invalid", datetime(2026, 11, 25, 9, 12, 40), 5.1,
                resident="张三", conflict_id=12),
            Row("pending", "0012345", "530102001002", "五华区", "=1+1", "参保登记", "", "待处理", "", "pending",
                None, 0.0, resident="王芳")]
    path = tmp_path / f"unsynced.{fmt}"
    write(FakeReport(rows), Filters(), fmt, path)
    return path


def test_libreoffice_reads_when_the_wait_began_as_a_date(tmp_path):
    from reports.unsynced import COLUMNS

    path = _report(tmp_path, "xlsx")
    since = COLUMNS.index("since")
    # Sheet 2, the rows; first as shown (the number format), then the value itself (a date has its seconds).
    for as_shown, expected in (("true", "2026-11-25 09:12"), ("false", "2026-11-25 09:12:40")):
        (converted,) = _convert(tmp_path, path, "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,"
                                                f"{as_shown},false,false,2")
        with converted.open(encoding="utf-8") as fh:
            read = list(csv.reader(fh))
        assert read[1][since] == expected, as_shown
        assert read[2][since] == ""  # no time: an empty cell
        assert read[1][COLUMNS.index("conflict_id")] == "12" and read[1][COLUMNS.index("resident")] == "张三"


def test_libreoffice_imports_the_csv_codes_as_text_with_their_leading_zeros(tmp_path):
    from openpyxl import load_workbook

    from reports.unsynced import COLUMNS

    path = _report(tmp_path, "csv")
    (converted,) = _convert(tmp_path, path, "xlsx", "--infilter=Text - txt - csv (StarCalc):44,34,76,1")
    rows = list(load_workbook(converted).active.iter_rows(min_row=2))
    region, txn = COLUMNS.index("region_code"), COLUMNS.index("txn_id")
    for row, code in ((rows[0], "530102001001"), (rows[1], "530102001002")):
        assert row[region].data_type == "s" and row[region].value == "'" + code  # text, every digit kept
    assert rows[1][txn].data_type == "s" and rows[1][txn].value == "'0012345"  # not the number 12345
    assert rows[1][COLUMNS.index("agent")].value == "'=1+1"  # the formula stays text
    assert rows[0][COLUMNS.index("conflict_id")].value == 12  # a number is a number


def test_libreoffice_reads_an_unmarked_code_as_a_number(tmp_path):
    """Why the CSV marks them: the same file without the mark loses the leading zeros."""
    from openpyxl import load_workbook

    path = tmp_path / "plain.csv"
    path.write_text('"0012345","530102001001"\r\n', encoding="utf-8-sig")
    (converted,) = _convert(tmp_path, path, "xlsx", "--infilter=Text - txt - csv (StarCalc):44,34,76,1")
    cells = next(load_workbook(converted).active.iter_rows())
    assert [c.value for c in cells] == [12345, 530102001001]
