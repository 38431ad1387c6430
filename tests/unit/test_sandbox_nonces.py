"""The sandbox platform refuses a nonce for 600 s, then forgets it — in constant time per request."""

import pytest

from sandbox.state import NONCE_WINDOW, ApiError, PlatformState


def test_a_nonce_is_refused_inside_the_window_and_forgotten_after_it():
    state = PlatformState(apps={})
    state.check_nonce("a" * 16)
    with pytest.raises(ApiError) as err:
        state.check_nonce("a" * 16)
    assert err.value.code == 40103
    state.clock_skew = NONCE_WINDOW + 1  # ten minutes and a second later
    state.check_nonce("b" * 16)
    assert list(state._nonces) == ["b" * 16]  # the expired one is gone, the new one kept
    state.check_nonce("a" * 16)  # usable again
