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
