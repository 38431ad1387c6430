"""The change feed (§4) as an iterator of pages from a checkpoint.

Resuming from a timestamp re-reads ``overlap`` seconds before it, because the platform may
make a transaction visible up to 120 s after its ``updated_at``; the caller drops the
versions it already has. A cursor that expires (41001) restarts from the last *committed*
checkpoint; a feed that stops advancing is refused, so no page is fetched forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import structlog

from connectors.platform.client import Page, PlatformClient
from connectors.platform.errors import CursorExpired, FatalError

log = structlog.get_logger(__name__)

MIN_OVERLAP = timedelta(seconds=120)


class FeedNotAdvancing(FatalError):
    """The platform keeps answering pages that do not move the feed forward."""


def start_point(checkpoint: datetime | None, overlap: timedelta) -> datetime | None:
    """Where to ask from: the checkpoint less the overlap (at least the contract's 120 s)."""
    return None if checkpoint is None else checkpoint - max(overlap, MIN_OVERLAP)


def _position(page: Page) -> tuple[str, str] | None:
    last = page.items[-1] if page.items else None
    if isinstance(last, dict):
        return str(last.get("updated_at")), str(last.get("txn_id"))
    return None


def pages(client: PlatformClient, committed: Callable[[], datetime | None], *, region_prefix: str | None = None,
          overlap: timedelta = MIN_OVERLAP, limit: int = PlatformClient.PAGE_LIMIT,
          max_restarts: int = 3) -> Iterator[Page]:
    """Pages from the committed checkpoint until ``has_more`` is false.

    Args:
        committed: returns the checkpoint as committed *now*; read again after a 41001. Gives up
            after ``max_restarts`` expiries in a row without the checkpoint moving on.
    """
    restarts = 0
    position = committed()
    while True:
        try:
            yield from _walk(client, start_point(position, overlap), region_prefix, limit)
            return
        except CursorExpired:
            # A long run meets many expiries; only ``max_restarts`` in a row without the committed
            # checkpoint moving on means the feed cannot be read.
            now = committed()
            restarts = 1 if now != position else restarts + 1
            position = now
            if restarts > max_restarts:
                raise
            log.warning("feed_cursor_expired", restart=restarts)


def _walk(client: PlatformClient, after: datetime | None, region_prefix: str | None, limit: int,
          max_stalls: int = 3) -> Iterator[Page]:
    cursor: str | None = None
    last: tuple[str, str] | None = None
    stalls = 0
    while True:
        page = client.changes_page(updated_after=after, cursor=cursor, region_prefix=region_prefix, limit=limit)
        position = _position(page)
        # A repeated page is tolerated (its versions are dropped as seen); a feed that
        # keeps not moving forward is not.
        advanced = position is not None and (last is None or position > last)
        stalls = 0 if advanced else stalls + 1
        if stalls >= max_stalls and page.has_more:
            raise FeedNotAdvancing(f"the feed did not move forward in {stalls} pages")
        last = position if advanced else last
        yield page
        if not page.has_more or not page.next_cursor:
            return
        cursor = page.next_cursor
