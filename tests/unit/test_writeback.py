"""Result bodies: the internal system's times as the platform writes them."""

from __future__ import annotations

from datetime import datetime

import pytest

from mapping.types import platform_time


@pytest.mark.parametrize("value, expected", [
    ("20261127083000", "2026-11-27 08:30:00"),
    (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02 03:04:05"),
    ("20260229120000", None),        # no 29 February in 2026
    ("20261332083000", None),        # month 13
    ("2026112708300", "2026-11-27 08:30:00"),  # 13 digits: strptime's reading, as before
    ("2026-11-27", None),
    ("", None),
    (None, None),
])
def test_internal_times_become_platform_times(value, expected):
    assert platform_time(value) == expected


# --- bodies the platform cannot refuse, and answers that end a result (issue 23, finding 2) ---

from connectors.platform.errors import ConflictError, FatalError, NotFound, RegionForbidden, RetriableError  # noqa: E402
from sync.writeback import outcome_of, refused  # noqa: E402

LEDGER = {"state": "applied", "state_at": datetime(2026, 11, 26, 2, 0, 0), "reasons": None}


def business(**over):
    return {"ywlsh": "YW2026112600000001", "aae016": "1", "aae015": "20261127083000", "aae036": "20261126020000",
            "aae011": "李四(A0017)", "aae013": None, **over}


@pytest.mark.parametrize("review, expected", [
    (business(aae016="2", aae015=None), "2026-11-26 02:00:00"),             # reviewed, no review time: entered at
    (business(aae016="2", aae015=None, aae036=None), "2026-11-26 02:00:00"),  # nor that: the ledger's time
    (business(aae016="2", aae015="2026-02-30"), "2026-11-26 02:00:00"),      # not a time
    (business(aae016="2"), "2026-11-27 08:30:00"),
    (business(aae016="0", aae036="garbage"), "2026-11-26 02:00:00"),
])
def test_processed_at_is_never_null(review, expected):
    body = outcome_of(LEDGER, review, None)
    assert body["processed_at"] == expected and body["outcome"] in ("accepted", "rejected")


@pytest.mark.parametrize("aae016", ["9", "", None, "x"])
def test_an_unexpected_review_status_sends_nothing(aae016):
    assert outcome_of(LEDGER, business(aae016=aae016), None) is None


@pytest.mark.parametrize("err, terminal", [
    (FatalError("40001: invalid parameter", 40001), True),
    (NotFound("40401: not found", 40401), True),
    (FatalError("40099: something new", 40099), True),
    (FatalError("40101: bad signature", 40101), False),
    (RegionForbidden("40301", 40301), False),
    (FatalError("unreadable answer"), False),
    (RetriableError("50001", 50001), False),
    (ConflictError("40901", code=40901), False),
])
def test_answers_that_refuse_the_body_are_told_from_the_others(err, terminal):
    assert refused(err) is terminal
