"""A bounded memory of recently seen `jti` values (RFC 8417 §2.2: receivers MAY dedupe on jti)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ReplayCache"]


class ReplayCache:
    def __init__(
        self,
        *,
        maxsize: int = 100_000,
        ttl: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_add(self, key: str) -> bool:
        """True if `key` was seen within the TTL; remembers it either way."""
        now = self._clock()
        while self._seen:
            oldest, stamp = next(iter(self._seen.items()))
            if now - stamp < self.ttl and len(self._seen) < self.maxsize:
                break
            del self._seen[oldest]
        seen = key in self._seen and now - self._seen[key] < self.ttl
        self._seen[key] = now
        self._seen.move_to_end(key)
        return seen

    def forget(self, key: str) -> None:
        """Let `key` be accepted again (its processing failed and the sender will retry)."""
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)
