"""The feed iterator never fetches pages forever, and re-reads with the overlap."""

from datetime import datetime, timedelta

import pytest

from connectors.platform.client import Page
from connectors.platform.feed import FeedNotAdvancing, pages, start_point


class StuckPlatform:
    """A platform that answers the same page, with a fresh cursor, forever."""

    def __init__(self) -> None:
        self.calls = 0

    def changes_page(self, **kw) -> Page:
        self.calls += 1
        return Page([{"txn_id": "A", "updated_at": "2026-11-25 09:00:00"}], f"c{self.calls}", True)


def test_a_feed_that_does_not_advance_is_refused():
    platform = StuckPlatform()
    with pytest.raises(FeedNotAdvancing):
        list(pages(platform, lambda: None))
    assert platform.calls == 4


def test_overlap_is_at_least_the_contracts_120_seconds():
    at = datetime(2026, 11, 25, 9, 0, 0)
    assert start_point(at, timedelta(seconds=30)) == at - timedelta(seconds=120)
    assert start_point(at, timedelta(seconds=300)) == at - timedelta(seconds=300)
    assert start_point(None, timedelta(seconds=300)) is None


class ExpiringPlatform:
    """Every cursor expires (41001): each walk yields its first page only, then must restart."""

    def __init__(self, pages_in_all: int) -> None:
        self.pages_in_all, self.served = pages_in_all, 0

    def changes_page(self, *, updated_after=None, cursor=None, **kw) -> Page:
        from connectors.platform.errors import CursorExpired

        if cursor is not None:
            raise CursorExpired("41001: cursor expired", 41001)
        self.served += 1
        stamp = (datetime(2026, 11, 25, 9, 0, 0) + timedelta(minutes=10 * self.served)).strftime("%Y-%m-%d %H:%M:%S")
        more = self.served < self.pages_in_all
        return Page([{"txn_id": f"T{self.served}", "updated_at": stamp}], "next" if more else None, more)


def test_expiring_cursors_are_survived_while_the_checkpoint_moves_on():
    """A long run meets many expiries: only three in a row with nothing committed stop it."""
    platform = ExpiringPlatform(pages_in_all=10)
    committed = {"at": None}
    walked = 0
    for page in pages(platform, lambda: committed["at"], max_restarts=3):
        walked += 1
        committed["at"] = datetime.strptime(page.items[-1]["updated_at"], "%Y-%m-%d %H:%M:%S")  # batch committed
    assert walked == 10  # nine expiries, each after progress

    from connectors.platform.errors import CursorExpired
    stuck = ExpiringPlatform(pages_in_all=10)
    with pytest.raises(CursorExpired):
        list(pages(stuck, lambda: None, max_restarts=3))  # nothing ever committed
    assert stuck.served == 4
