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
