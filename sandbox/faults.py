"""Fault switches of the sandbox platform: each a share of answers that misbehave."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    """Shares (0..1) of requests answered badly, plus the platform's clock skew."""

    error_200: float = 0.0        # 50001 with HTTP 200
    rate_limited: float = 0.0     # 42901 with Retry-After (HTTP 429, or 200 for half of them)
    http500: float = 0.0          # 50001 with HTTP 500
    http503: float = 0.0          # 50301 maintenance with Retry-After
    slow: float = 0.0             # answer after ``slow_seconds``
    slow_seconds: float = 3.0
    drop: float = 0.0             # connection closed mid-body
    truncate: float = 0.0         # JSON cut short, Content-Length matching the cut body
    repeat_page: float = 0.0      # the feed answers the previous page again
    expire_cursor: float = 0.0    # every cursor handed out so far expires (41001) before this page
    retry_after: float = 0.05     # what Retry-After says
    skew_seconds: float = 0.0     # the platform's clock runs ahead by this much
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def roll(self, name: str) -> bool:
        """Whether this request gets fault ``name``."""
        share = getattr(self, name)
        if share <= 0:
            return False
        with self._lock:
            return bool(self._rng.random() < share)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``error_200=0.05,drop=0.01`` as given on the command line."""
        names = {f.name for f in fields(cls) if not f.name.startswith("_")}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            if key not in names:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(names))}")
            values[key] = float(value)
        seed = int(values.pop("seed", 0))
        return cls(seed=seed, **values)  # type: ignore[arg-type]  # only the fault shares are left in values
