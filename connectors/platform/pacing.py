"""Pacing below the platform's rate limit, and the run's retry budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket shared by every thread of one client.

    ``slow_down`` halves the rate after a ``42901`` (the platform's signal to slow down, §2);
    each success wins a little of it back, up to the configured rate.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ceiling = rate
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one request may be sent."""
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)

    def slow_down(self) -> None:
        with self._lock:
            self.rate = max(self.ceiling / 16, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    def on_success(self) -> None:
        if self.rate < self.ceiling:
            with self._lock:
                self.rate = min(self.ceiling, self.rate + self.ceiling / 50)


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
