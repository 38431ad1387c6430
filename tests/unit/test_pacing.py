"""The limiter that paces the bridge to the platform's limit (platform-api.md §2), on a fake clock:
its rate, its burst, how a 42901 slows it and how it recovers."""

from __future__ import annotations

import pytest

from connectors.platform.pacing import RateLimiter, RetryBudget, Unlimited


class Clock:
    """Time that passes only when the limiter sleeps, or the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.slept += seconds


def limiter(rate: float = 10.0, burst: int = 20, **kw) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(rate, burst, clock=clock, sleep=clock.sleep, **kw), clock


def times(lim: RateLimiter, clock: Clock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        lim.acquire()
        out.append(clock.now)
    return out


def test_the_burst_goes_at_once_then_the_rate_holds():
    lim, clock = limiter(10.0, 20)
    sent = times(lim, clock, 120)
    assert sent[:20] == [1000.0] * 20  # a full bucket: no wait
    assert sent[-1] - 1000.0 == pytest.approx(10.0)  # the other 100 at 10 a second
    gaps = [b - a for a, b in zip(sent[20:], sent[21:])]
    assert all(g == pytest.approx(0.1) for g in gaps)


def test_never_more_than_the_burst_plus_the_rate_in_any_window():
    """What a platform bucket of the same rate and burst would accept: never a 42901."""
    lim, clock = limiter(9.8, 18)
    sent = times(lim, clock, 18)
    clock.now += 0.7  # a pause: the bucket refills a little, not past the burst
    sent += times(lim, clock, 200)
    for i, start in enumerate(sent):
        inside = sum(1 for s in sent[i:] if s - start <= 3.0)
        assert inside <= 18 + 9.8 * 3.0 + 1e-9


def test_a_pause_up_to_the_burst_costs_nothing():
    """The seal between the feed and the write-back, a batch being written: the bucket fills while
    nothing is sent, and the requests after it catch up, so the night ends when it would have."""
    lim, clock = limiter(10.0, 20)
    times(lim, clock, 20)
    paced = times(lim, clock, 100)[-1]  # 10 s at the rate
    lim2, clock2 = limiter(10.0, 20)
    times(lim2, clock2, 20)
    times(lim2, clock2, 50)
    clock2.now += 2.0  # two seconds idle: 20 tokens earned
    assert times(lim2, clock2, 50)[-1] == pytest.approx(paced)


def test_a_pause_longer_than_the_burst_is_lost_only_beyond_it():
    lim, clock = limiter(10.0, 20)
    times(lim, clock, 20)
    clock.now += 5.0  # 5 s idle: 2 s of it refilled the bucket, 3 s are lost
    assert times(lim, clock, 100)[-1] - 1000.0 == pytest.approx(10.0 + 3.0)


def test_slow_down_halves_the_rate_and_empties_the_bucket():
    lim, clock = limiter(10.0, 20)
    times(lim, clock, 10)  # ten tokens left
    lim.slow_down()
    assert lim.rate == pytest.approx(5.0)
    start = clock.now
    lim.acquire()  # no burst left: the next request waits for a token at the slowed rate
    assert clock.now - start == pytest.approx(0.2)  # 1 token at 5/s (the climb makes it come a little early)


def test_the_answers_of_one_signal_slow_down_once():
    """Eight workers in flight all answered 42901: one slow down, not eight."""
    lim, clock = limiter(10.0, 20)
    for _ in range(8):
        lim.slow_down()
        clock.now += 0.05
    assert lim.slowdowns == 1
    assert lim.rate == pytest.approx(5.0 + 0.4 * 10.0 / 10.0)  # 0.4 s into the recovery
    clock.now += 1.0
    lim.slow_down()  # a second signal, after the first was over: slows again
    assert lim.slowdowns == 2 and lim.rate == pytest.approx((5.0 + 1.4) / 2)


def test_the_rate_recovers_in_time_to_the_configured_one():
    lim, clock = limiter(10.0, 20, recovery=10.0)
    lim.slow_down()
    assert lim.rate == pytest.approx(5.0)
    clock.now += 2.5
    assert lim.rate == pytest.approx(7.5)
    clock.now += 2.5
    assert lim.rate == pytest.approx(10.0)
    clock.now += 100
    assert lim.rate == pytest.approx(10.0)  # never above the configured rate


def test_requests_during_the_recovery_follow_the_climbing_rate():
    """5 s from half the rate back to the full one: about 37.5 requests in those 5 s (the mean
    rate 7.5), then 10 a second."""
    lim, clock = limiter(10.0, 20, recovery=10.0)
    times(lim, clock, 20)
    lim.slow_down()
    start = clock.now
    sent = times(lim, clock, 88)
    in_recovery = sum(1 for s in sent if s - start <= 5.0)
    assert 36 <= in_recovery <= 38
    assert sent[-1] - start == pytest.approx(5.0 + (88 - 37.5) / 10, abs=0.15)


def test_repeated_signals_never_stop_it():
    lim, clock = limiter(10.0, 20, floor=1 / 16)
    for _ in range(10):
        lim.slow_down()
        clock.now += 1.0
    assert lim.rate >= 10.0 / 16
    start = clock.now
    lim.acquire()
    assert clock.now - start < 16 / 10 + 1e-9


def test_unlimited_never_waits():
    clock = Clock()
    lim = Unlimited()
    for _ in range(1000):
        lim.acquire()
    lim.slow_down()
    lim.acquire()
    assert clock.slept == 0


def test_the_retry_budget_pays_until_it_cannot():
    budget = RetryBudget(2, 10.0)
    assert budget.spend(4.0) and budget.spend(4.0)
    assert not budget.spend(0.1)  # no retries left
    assert not RetryBudget(5, 1.0).spend(2.0)  # not enough seconds


def test_threads_sharing_one_limiter_keep_to_its_rate_and_burst():
    """Eight workers (the scans', the write-back's) on the real clock: every turn is reserved
    once, so together they send no faster than the rate beyond the burst, and none waits longer."""
    import threading
    import time

    lim = RateLimiter(200.0, 10)
    sent: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            lim.acquire()
            with lock:
                sent.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 200
    assert sent[-1] - started >= (200 - 10) / 200 * 0.98  # no faster than the rate beyond the burst
    assert sent[-1] - started < (200 - 10) / 200 + 0.5  # and not held back (on a busy machine)
    for i, start in enumerate(sent):
        assert sum(1 for s in sent[i:i + 40] if s - start <= 0.1) <= 10 + 200 * 0.1 + 1
