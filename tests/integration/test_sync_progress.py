"""The engine tells the CLI's progress display how far each scope has got (issue 26, finding 9)."""

from __future__ import annotations

from bridge import wiring
from sync import engine
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK, with_scans


def test_each_page_is_reported_with_its_scope_position_and_counts(internal_url, tmp_path):
    txns = [raw_txn("CBDJ", txn_id=f"RH53010220261125CB0{i}", updated_at=f"2026-11-2{i} 10:00:00") for i in range(1, 6)]
    seen = []
    with sandbox(with_scans(*txns)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path, page_size=2), clock=CLOCK)
        parts.progress = lambda scope, since, position, tally: seen.append((scope, since, position, tally.pulled))
        result = engine.run(parts)
    assert result.status == "completed", result.problems
    assert [s[0] for s in seen] == ["feed:5301"] * len(seen) and len(seen) >= 3  # five items, two a page
    assert [s[3] for s in seen] == sorted(s[3] for s in seen) and seen[-1][3] == result.tally.pulled
    assert seen[0][1] is None  # a first run has no checkpoint to count from
    positions = [s[2] for s in seen if s[2] is not None]
    assert positions == sorted(positions) and positions[-1].day == 25
