"""Inbound rate limits: token buckets per key (client address, callback host, publisher token).

In-memory and per process: with several nodes each enforces its own share. Buckets idle long
enough to be full again are forgotten, so memory stays bounded by the active keys.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import TooManyRequests

__all__ = ["RateLimiter"]

MAX_TRACKED_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests per second on average per key, bursts of up to `burst`; rate 0 = no limit."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.what = what
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise TooManyRequests with the seconds to wait."""
        if self.rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / self.rate)
            raise TooManyRequests(f"too many {self.what}; retry in {wait}s", retry_after=wait)
        bucket.tokens -= 1.0

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= refill]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_KEYS:  # all active: drop the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[
                : MAX_TRACKED_KEYS // 2
            ]:
                del self._buckets[key]
