"""The nightly job's last step: statistics only after a night that wrote to the ledger."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sync import nightly
from sync.engine import RunResult
from sync.process import Tally


def result(new_versions: int = 0, **after) -> RunResult:
    tally = Tally()
    tally.new_versions = new_versions
    return RunResult("r", "completed", tally, after=after)


@pytest.mark.parametrize("run, refreshed", [
    (result(), False),
    (result(seal={"sealed": 0, "failed": 0}, writeback={"sent": 0, "failed": 0}), False),
    (result(new_versions=3), True),
    (result(seal={"sealed": 2, "failed": 0}), True),
    (result(writeback={"sent": 0, "failed": 1}), True),
])
def test_statistics_are_refreshed_only_after_a_night_that_wrote(mocker, run, refreshed):
    tidy = mocker.patch.object(nightly.statistics, "tidy", return_value=["pb_txn"])
    reported = []
    nightly.daily_report(SimpleNamespace(state=object(), report=lambda parts, r: reported.append(r)), run)
    assert tidy.called is refreshed
    assert reported == [run] and run.after.get("vacuumed") == (["pb_txn"] if refreshed else None)


def test_without_report_formats_the_report_step_writes_nothing_and_says_so():
    from bridge.reporting import unsynced_report

    run = result()
    unsynced_report(SimpleNamespace(report_formats=()), run)
    assert run.after["report"] == {}


def test_a_page_position_is_its_latest_time_whatever_the_form():
    from datetime import datetime

    from sync.engine import page_position

    items = [{"updated_at": "2026-11-25 08:00:00"}, {"updated_at": "2026-13-40 00:00:00"},
             {"updated_at": "２０２６-11-25 09:30:00"}, {"updated_at": "2026-11-25 09:00:00"},
             {"updated_at": None}, "not an object", {}]
    assert page_position(items) == datetime(2026, 11, 25, 9, 30)
    assert page_position(items[:2] + items[3:]) == datetime(2026, 11, 25, 9, 0)
    assert page_position([{"updated_at": "2026-13-40 00:00:00"}]) is None
    # full-width digits sort after ASCII ones as text: an earlier such stamp is not the latest
    assert page_position([{"updated_at": "２０２５-01-01 00:00:00"}, {"updated_at": "2026-11-25 09:00:00"}]) \
        == datetime(2026, 11, 25, 9, 0)
    assert page_position([]) is None
