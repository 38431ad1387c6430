"""The catalogue fills a placeholder whatever its name, ``{key}`` included (``bundle verify``)."""

from __future__ import annotations

from config.catalogue import text


def test_a_placeholder_named_key_is_filled():
    line = text("doctor.bundle_unsigned", key="/etc/pension-bridge/peer.pub")
    assert "/etc/pension-bridge/peer.pub" in line
