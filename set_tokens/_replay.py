"""What a receiver remembers of the `jti`s it has accepted (RFC 8417 §2.2: receivers MAY dedupe on
jti), so that a SET accepted once is not acted on again.

A jti needs remembering only while its SET could still pass verification: until its `iat` plus the
Verifier's `max_age` and clock skew, after which the age check refuses it anyway. That is the
expiry the Verifier hands to `claim`. Two stores:

- `ReplayCache`: in memory, bounded; forgotten when the process ends.
- `SqliteReplayCache` (in `_replay_sqlite`): an SQLite file, kept across restarts and shared by
  several verifier processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

__all__ = ["ReplayCache", "ReplayStore"]


class ReplayStore(Protocol):
    """Where a `Verifier` keeps accepted jtis. Times are the Verifier's (seconds since the epoch,
    or the `now=` a test passes), never the store's own clock."""

    def seen(self, key: str, *, now: float) -> bool:
        """Whether `key` was claimed and has not expired at `now`."""

    def claim(self, key: str, *, expires_at: float, now: float) -> bool:
        """Hold `key` until `expires_at`. False if it is held already (a replay). Atomic: of two
        concurrent claims of one key, exactly one returns True."""

    def forget(self, key: str) -> None:
        """Release `key`: its processing failed and the transmitter will send it again."""


class ReplayCache:
    """Accepted jtis in memory: at most `maxsize`, the oldest dropped first; lost on restart.

    `check_and_add` is the older interface, with a fixed `ttl` on the cache's own `clock`; the
    Verifier uses `seen`/`claim`, with an expiry per SET."""

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
        self._expiry: OrderedDict[str, float] = OrderedDict()  # key -> expires at, oldest first

    def _evict(self, now: float) -> None:
        while self._expiry:
            oldest, expires_at = next(iter(self._expiry.items()))
            if expires_at > now and len(self._expiry) < self.maxsize:
                break
            del self._expiry[oldest]

    def seen(self, key: str, *, now: float) -> bool:
        expires_at = self._expiry.get(key)
        return expires_at is not None and expires_at > now

    def claim(self, key: str, *, expires_at: float, now: float) -> bool:
        self._evict(now)
        if self.seen(key, now=now):
            return False
        self._expiry[key] = expires_at
        self._expiry.move_to_end(key)
        return True

    def check_and_add(self, key: str) -> bool:
        """True if `key` was seen within the TTL; remembers it either way."""
        now = self._clock()
        if self.claim(key, expires_at=now + self.ttl, now=now):
            return False
        self._expiry[key] = now + self.ttl
        self._expiry.move_to_end(key)
        return True

    def forget(self, key: str) -> None:
        """Let `key` be accepted again (its processing failed and the sender will retry)."""
        self._expiry.pop(key, None)

    def __len__(self) -> int:
        return len(self._expiry)
