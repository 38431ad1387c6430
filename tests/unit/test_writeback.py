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
