"""Pacing below the platform's rate limit, and the run's retry budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket shared by every thread of one client: ``rate`` requests a second, up to
    ``burst`` at once after a pause (a pause of up to ``burst / rate`` seconds — a batch written,
    the seal between the feed and the write-back — costs the night nothing).

    A ``42901`` is the platform's signal to slow down (§2): ``slow_down`` empties the bucket and
    takes the rate to ``backoff`` times what it was; the rate then climbs back to the configured one
    in time, linearly, reaching it ``recovery`` seconds after a slow down from the full rate
    would have reached zero (from half the rate: ``recovery / 2`` seconds). The 42901 answers
    that arrive within ``episode`` seconds of a slow down are the same signal — the other
    requests that were in flight when it came — and do not slow it further: eight workers told
    at once used to halve the rate eight times, to a sixteenth, and win it back a success at a
    time. The rate never falls below ``floor`` times the configured one.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, *, backoff: float = 0.5,
                 recovery: float = 10.0, episode: float = 1.0, floor: float = 1 / 16) -> None:
        self.ceiling = rate
        self.burst = burst
        self.backoff, self.recovery, self.episode, self.floor = backoff, recovery, episode, floor
        self.slowdowns = 0
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._slowed_at: float | None = None  # when the last slow down came
        self._slowed_to = rate  # and the rate it set
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Requests a second allowed now."""
        return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float:
        if self._slowed_at is None:
            return self.ceiling
        climbed = self._slowed_to + max(0.0, now - self._slowed_at) * self.ceiling / self.recovery
        return min(self.ceiling, climbed)

    def _refill(self, now: float) -> None:
        """Tokens earned since the last look: the rate's mean over the interval (exact while it
        climbs, an underestimate where it reaches the ceiling: never more than allowed)."""
        earned = (now - self._stamp) * (self._rate_at(self._stamp) + self._rate_at(now)) / 2
        self._tokens = min(float(self.burst), self._tokens + earned)  # below zero: turns reserved
        self._stamp = now

    def acquire(self) -> None:
        """Wait until one request may be sent: take a token, or reserve the next one to come and
        sleep once until it has (a bucket below zero holds the turns reserved). Eight workers
        waiting each sleep once per request, instead of all waking for every token."""
        if self.ceiling <= 0:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1
            if self._tokens >= -1e-9:  # a rounding error is not worth a sleep
                return
            wait = -self._tokens / self._rate_at(now)
        self._sleep(wait)

    def slow_down(self) -> None:
        """The platform answered ``42901``."""
        if self.ceiling <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._slowed_at is not None and now - self._slowed_at < self.episode:
                return  # the same signal, for a request sent before it came
            self._refill(now)
            self._slowed_to = max(self.ceiling * self.floor, self._rate_at(now) * self.backoff)
            self._slowed_at = now
            self._tokens = min(self._tokens, 0.0)
            self.slowdowns += 1

    def on_success(self) -> None:
        """Recovery is in time, not per answer: nothing to do (kept for the client's call)."""


class Unlimited(RateLimiter):
    """No pacing (benchmarks against a sandbox without a rate limit)."""

    def __init__(self) -> None:
        super().__init__(0, 1)

    def slow_down(self) -> None:
        pass


class RetryBudget:
    """How many retries and how many seconds of waiting one run may spend on the platform."""

    def __init__(self, retries: int, seconds: float) -> None:
        self.retries_left = retries
        self.seconds_left = seconds
        self._lock = threading.Lock()

    def spend(self, wait: float) -> bool:
        """Take one retry of ``wait`` seconds; False when the budget cannot pay for it."""
        with self._lock:
            if self.retries_left <= 0 or self.seconds_left < wait:
                return False
            self.retries_left -= 1
            self.seconds_left -= wait
            return True
