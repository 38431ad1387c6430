"""The unsynced report's rows meet the console (issue 26, finding 10): each names the resident and
the open conflict's number as the console does, counts the wait as the console does, and every
format carries them; the time the wait began is a date cell in the xlsx.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from config.catalogue import text
from reports.render import write_many
from reports.unsynced import COLUMNS, Filters
from sync import conflicts
from sync.ledger import tables as t
from sync.status import waited_days, waited_since
from tests.integration.test_reports import NOW, built, report_of  # noqa: F401 - built is the fixture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # openpyxl: "workbook contains no default style"

CREATED = "2026-11-25 09:12:40"  # every platform record's created_at in the scenario (tests.factories)


def console_queue(parts) -> list[dict]:
    """The staff queue's lines as the console computes them (console/app.py ``queue``)."""
    lines, _ = conflicts.page(parts.state, conflicts.Filters(), None, 50)
    for line in lines:
        line["days"] = waited_days(waited_since(line["created_at"], line["first_seen_at"]), NOW)
    return lines


def test_rows_name_the_resident_and_the_conflict_as_the_console_does(built):
    rows = {r.kind: r for r in report_of(built).rows()}
    (line,) = console_queue(built)
    conflict = rows["conflict"]
    assert conflict.txn_id == line["txn_id"] and conflict.conflict_id == line["id"] > 0
    assert conflict.resident == line["resident"] == "张三"  # the platform's name, as the queue shows it
    assert conflict.days == pytest.approx(line["days"])  # one definition of the wait
    assert rows["invalid"].resident == "王芳" and rows["writeback_refused"].resident == "赵敏"
    assert rows["seal_missing"].resident == "张三" and rows["hand_typed"].resident == "张三"  # the internal name
    assert all(r.conflict_id is None for kind, r in rows.items() if kind != "conflict")
    # The wait of a business approved and not sealed began when the agent took it, as on every row
    # that has a platform record, not at the counter's approval.
    for kind in ("invalid", "conflict", "writeback_refused", "seal_missing"):
        assert rows[kind].since == datetime.fromisoformat(CREATED), kind
        assert rows[kind].days == pytest.approx(waited_days(datetime.fromisoformat(CREATED), NOW)), kind
    assert rows["hand_typed"].since == datetime(2026, 11, 28, 10, 0)  # typed at the counter: no platform record


def test_a_resolved_conflict_has_no_number_and_a_payload_that_does_not_open_no_name(built):
    with built.state.begin() as conn:
        conn.execute(update(t.conflict).values(status="resolved"))
        conn.execute(update(t.txn_version).where(t.txn_version.c.txn_id == "RH530102202611250101")
                     .values(raw="pbe1:00112233aabbccdd:AAAA"))  # under a key this side does not hold
    rows = {r.kind: r for r in report_of(built).rows()}
    assert rows["conflict"].conflict_id is None
    assert rows["invalid"].resident == "" and rows["invalid"].txn_id == "RH530102202611250101"  # listed all the same


class Table(HTMLParser):
    """The cells of the HTML report's rows table, empty ones included."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_every_format_carries_the_number_the_name_and_the_date(built, tmp_path):
    (line,) = console_queue(built)
    paths = {fmt: tmp_path / f"r.{fmt}" for fmt in ("xlsx", "csv", "html", "json")}
    count, _ = write_many(report_of(built), Filters(), paths)
    number, name, since, region = (COLUMNS.index(c) for c in ("conflict_id", "resident", "since", "region_code"))
    kind_of = {text(f"report.kind.{k}"): k for k in ("conflict", "invalid", "hand_typed", "seal_missing")}

    detail = load_workbook(paths["xlsx"])["明细"]
    head = [c.value for c in detail[1]]
    assert head[number] == text("report.column.conflict_id") and head[name] == text("report.column.resident")
    sheet = {kind_of.get(r[0].value): r for r in detail.iter_rows(min_row=2)}
    assert len(sheet) == count
    assert sheet["conflict"][number].value == line["id"] and sheet["conflict"][number].data_type == "n"
    assert sheet["conflict"][name].value == "张三" and sheet["invalid"][name].value == "王芳"
    assert sheet["invalid"][number].value is None  # no conflict: the cell is empty
    when = sheet["conflict"][since]
    assert when.is_date and when.value == datetime.fromisoformat(CREATED)  # a date cell: Excel sorts it
    assert when.number_format == "yyyy-mm-dd hh:mm"
    assert sheet["conflict"][region].value == "530102001001" and sheet["conflict"][region].data_type == "s"

    rows = list(csv.reader(paths["csv"].read_text(encoding="utf-8-sig").splitlines()))
    by_kind = {kind_of.get(r[0]): r for r in rows[1:]}
    assert by_kind["conflict"][number] == str(line["id"]) and by_kind["invalid"][number] == ""
    assert by_kind["conflict"][name] == "张三" and by_kind["hand_typed"][name] == "张三"
    assert by_kind["conflict"][since] == "2026-11-25 09:12"
    assert by_kind["conflict"][region] == "'530102001001"  # kept text when a spreadsheet opens the CSV

    page = Table()
    page.feed(paths["html"].read_text(encoding="utf-8"))
    shown = {kind_of.get(r[0]): r for r in page.rows if len(r) == len(COLUMNS)}
    assert shown["conflict"][number] == str(line["id"]) and shown["invalid"][number] == ""
    assert shown["invalid"][name] == "王芳" and shown["conflict"][since] == "2026-11-25 09:12"
    assert shown["conflict"][region] == "530102001001"  # HTML is read, not parsed: no mark

    data = json.loads(paths["json"].read_text(encoding="utf-8"))["rows"]
    found = {r["kind"]: r for r in data}
    assert found["conflict"]["conflict_id"] == line["id"] and found["conflict"]["resident"] == "张三"
    assert found["invalid"]["conflict_id"] is None and found["conflict"]["since"] == CREATED


def test_a_summary_without_names_counts_the_same_and_reads_no_payload(built):
    """The console's report page shows only counts: it asks for rows without names, and pays for
    no payload reads; the counts are the same."""
    from reports.unsynced import UnsyncedReport, collect

    full = report_of(built)
    bare = UnsyncedReport(full.internal, full.state, full.regions, full.codes, full.now, residents=False)
    with_names = [s for _, s in collect(full, Filters())][-1]
    without = list(collect(bare, Filters()))
    from_payloads = [row for row, _ in without if row.kind in ("invalid", "conflict", "writeback_refused")]
    assert len(from_payloads) == 3 and all(row.resident == "" for row in from_payloads)
    assert without[-1][1].total == with_names.total and without[-1][1].groups() == with_names.groups()
