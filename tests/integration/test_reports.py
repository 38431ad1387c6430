"""The unsynced report: every unsynced state, in every format, agreeing with verify."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from connectors.internal import schema as it
from connectors.platform.errors import FatalError
from reports.render import write
from reports.unsynced import COLUMNS, Filters, UnsyncedReport
from sync import engine, nightly
from sync.verify import verify
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_conflicts import ENROLMENT, PERSON, by_hand, insert
from tests.integration.test_sync import CLOCK, with_scans

NOW = datetime(2026, 11, 30, 12, 0, 0)


def scenario_txns():
    invalid = raw_txn("CBDJ", txn_id="RH530102202611250101")
    invalid["payload"]["grade"] = "350.00"
    invalid["person"] = dict(invalid["person"], id_number="11010519491231002X", birth_date="1949-12-31", gender="F",
                             name="王芳")
    held = raw_txn("CBDJ", txn_id="RH530102202611250102", updated_at="2026-11-25 09:13:00")  # 重复参保
    change = raw_txn("XXBG", txn_id="RH530102202611250103", updated_at="2026-11-25 09:14:00")
    change["attachments"] = []
    back = raw_txn("BJ", txn_id="RH530103202611250104", updated_at="2026-11-25 09:15:00", region_code="530103001001")
    back["person"] = dict(back["person"], id_number=NEIGHBOUR["aac002"], birth_date="1985-01-01", gender="F",
                          name=NEIGHBOUR["aac003"])
    return invalid, held, change, back


# The back-payment's person lives in the other county: business is done where the person lives.
NEIGHBOUR = {**PERSON, "aac001": "5301030000000902", "aac002": "530103198501010026", "aac003": "赵敏", "aac004": "2",
             "aac006": 19850101, "aab301": "530103001001"}


@pytest.fixture
def built(internal_url, tmp_path, mocker):
    """A database holding every unsynced state."""
    with sandbox(with_scans(*scenario_txns())) as server:
        from bridge import wiring
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        insert(parts.internal, ac01=[PERSON, NEIGHBOUR],
               ac02=[ENROLMENT, {**ENROLMENT, "aaz159": 902, "aac001": NEIGHBOUR["aac001"]}])
        engine.run(parts)  # feed only: applied business not yet written back
        with parts.internal.begin() as conn:  # counter staff approve the change: the seal is missing
            conn.execute(update(it.ae_ywjl).where(it.ae_ywjl.c.wblsh == "RH530102202611250103")
                         .values(aae016="1", aae015="20261126090000"))
            conn.execute(it.ae_ywjl.insert().values(by_hand("YW2026112800000077", "12", "20261128100000")))
        mocker.patch.object(parts.client, "post_result", side_effect=FatalError("40001: invalid parameter", 40001))
        from sync.writeback import write_back
        write_back(parts)  # every result fails: write-back keeps failing
        yield parts


def report_of(parts) -> UnsyncedReport:
    return UnsyncedReport(parts.internal, parts.state, parts.context.regions, parts.codes, NOW)


def test_every_unsynced_state_is_a_row(built):
    rows = list(report_of(built).rows())
    kinds = sorted(r.kind for r in rows)
    assert kinds == ["conflict", "hand_typed", "invalid", "seal_missing", "writeback_refused"]  # 40001: not resent
    invalid = next(r for r in rows if r.kind == "invalid")
    assert "缴费档次350.00元" in invalid.reason and invalid.person == "110105********002X"
    assert invalid.region_name == "五华区华山街道东风社区" and invalid.agent == "李四(A0017)"
    assert next(r for r in rows if r.kind == "conflict").reason == "此人已正常参保，不能重复参保"
    hand = next(r for r in rows if r.kind == "hand_typed")
    assert hand.txn_id is None and "YW2026112800000077" in hand.reason
    assert all(r.days > 0 for r in rows)
    totals = verify(built.internal, built.state, "2").by_state
    waiting = sum(1 for r in rows if r.kind in ("pending", "invalid", "conflict"))
    assert waiting == totals.get("pending", 0) + totals.get("invalid", 0) + totals.get("conflict", 0)


def test_filters(built):
    report = report_of(built)
    assert {r.region_code[:6] for r in report.rows(Filters(region="530103"))} == {"530103"}
    assert [r.kind for r in report.rows(Filters(kind="already_enrolled"))] == ["conflict"]
    assert {r.kind for r in report.rows(Filters(since=datetime(2026, 11, 27).date()))} == {"hand_typed"}
    # Every row's age is how long its resident has waited, from the platform's created_at (issue 26,
    # finding 5): a result the platform refused has kept its resident waiting since then too, and so
    # has a business approved at the counter and not sealed (taken on 11-25, approved on 11-26).
    assert {r.kind for r in report.rows(Filters(min_age_days=4.5))} == {"invalid", "conflict", "writeback_refused",
                                                                       "seal_missing"}


def test_xlsx_summary_first_frozen_filtered(built, tmp_path):
    count, summary = write(report_of(built), Filters(), "xlsx", tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["汇总", "明细"]
    detail = book["明细"]
    assert detail.freeze_panes == "A2" and detail.auto_filter.ref == f"A1:M{count + 1}"
    assert detail["A1"].value == "类别" and detail.max_row == count + 1 == 6
    assert detail["K1"].value == "原因" and detail.column_dimensions["K"].width >= 20  # it fits Chinese text
    first = [row for row in book["汇总"].values]
    assert first[2][1] == 5 and ("结果未回写平台", None) not in first
    assert ("平台拒收回写结果，需修正后才会重发", 1) in first and ("30天以上", 0) in first  # 40001: refused


def test_csv_has_a_bom_and_json_parses(built, tmp_path):
    write(report_of(built), Filters(), "csv", tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][0] == "类别" and len(rows) == 6
    write(report_of(built), Filters(), "json", tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["summary"]["total"] == 5 == len(data["rows"])
    assert {r["kind"] for r in data["rows"]} >= {"invalid", "hand_typed"}


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells, self.bars, self.tds, self._in = [], 0, 0, False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "td"
        self.tds += tag == "td"
        self.bars += tag == "rect"

    def handle_data(self, data):
        if self._in:
            self.cells.append(data)
            self._in = False


def test_html_is_self_contained_with_charts(built, tmp_path):
    write(report_of(built), Filters(), "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    parser = Cells()
    parser.feed(page)
    assert "<script" not in page and "http" not in page.split("</style>")[0]
    assert "RH530102202611250101" in parser.cells and parser.tds == 5 * len(COLUMNS) and parser.bars >= 6
    assert "合计 5 条" in page


def test_names_with_html_cannot_inject(internal_url, tmp_path):
    txn = raw_txn("CBDJ")
    txn["agent"]["name"] = "<script>alert(1)</script>"
    txn["payload"]["grade"] = "350.00"
    with sandbox(with_scans(txn)) as server:
        from bridge import wiring
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
    write(report_of(parts), Filters(), "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_nightly_run_writes_the_days_report(internal_url, tmp_path):
    with sandbox(with_scans(*scenario_txns()[:3])) as server:  # the neighbour is not enrolled in this database
        from bridge import wiring
        parts = wiring.build(settings(server, internal_url, tmp_path, report_dir=tmp_path / "daily"), clock=CLOCK)
        result = nightly.run(parts)
    assert sorted(p.name for p in (tmp_path / "daily").iterdir()) == ["unsynced-20261126.html", "unsynced-20261126.xlsx"]
    assert result.after["report"]["unsynced"] == 1  # the invalid enrolment


def test_ledger_statistics_refresh_on_every_backend_and_change_no_answer(built, mocker):
    from sync.ledger import statistics

    before = [r.cells() for r in report_of(built).rows()]
    warning = mocker.spy(statistics.log, "warning")
    statistics.refresh(built.state)
    statistics.tidy(built.state)
    assert warning.call_count == 0  # ANALYZE / PRAGMA optimize (and VACUUM) ran on this dialect
    assert [r.cells() for r in report_of(built).rows()] == before and len(before) >= 4


def test_results_not_sent_are_found_from_candidates_as_the_whole_ledger_would_find_them(built):
    """The report reads two small sets of candidates, not the whole ledger; what it lists is
    what an anti-join over the whole ledger lists, whatever became of the results."""
    from sqlalchemy import exists, or_, select

    from sync.ledger import tables as t

    x, w = t.txn.c, t.writeback.c

    def everywhere() -> list[str]:
        sent = exists().where(w.txn_id == x.txn_id, w.status == "sent")
        with built.state.connect() as conn:
            return sorted(conn.execute(select(x.txn_id).where(
                x.state.in_(("applied", "linked", "rejected")), ~sent,
                or_(x.status.is_(None), x.status != "withdrawn"))).scalars())

    def listed() -> list[str]:
        return sorted(r.txn_id for r in report_of(built)._unwritten(Filters()))

    assert listed() == everywhere() == ["RH530102202611250103", "RH530103202611250104"]
    one = "RH530103202611250104"  # its result failed to send
    with built.state.begin() as conn:  # handed to the ferry (the hint raised), then superseded: nothing sent
        conn.execute(update(t.writeback).where(w.txn_id == one).values(status="superseded"))
        conn.execute(update(t.txn).where(x.txn_id == one).values(answered_version=x.version))
    assert listed() == everywhere() and one in listed()
    with built.state.begin() as conn:  # sent, and two versions since: the sweep's candidate, synced here
        conn.execute(update(t.writeback).where(w.txn_id == one).values(status="sent"))
        conn.execute(update(t.txn).where(x.txn_id == one).values(version=x.version + 2, answered_version=x.version))
    assert listed() == everywhere() and one not in listed()


def test_names_with_formulas_are_text_in_csv_and_xlsx(internal_url, tmp_path):
    txn = raw_txn("CBDJ")
    txn["agent"]["name"] = '=HYPERLINK("http://evil.example/","点击")'
    txn["payload"]["grade"] = "350.00"  # invalid: the row stays in the report
    with sandbox(with_scans(txn)) as server:
        from bridge import wiring
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        engine.run(parts)
    write(report_of(parts), Filters(), "csv", tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()))
    agent, region = COLUMNS.index("agent"), COLUMNS.index("region_code")
    assert rows[1][agent].startswith("'=HYPERLINK(") and rows[1][region] == "'530102001001"  # text, see cells.py
    write(report_of(parts), Filters(), "xlsx", tmp_path / "r.xlsx")
    detail = load_workbook(tmp_path / "r.xlsx")["明细"]
    assert detail["F2"].value.startswith("'=HYPERLINK(") and detail["F2"].data_type == "s"
    assert detail["D2"].value == "530102001001" and detail["D2"].data_type == "s"
