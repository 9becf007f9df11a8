"""Inbound rate limits: token buckets per key (client address, callback host, publisher token),
and the keys themselves.

In-memory and per process: with several nodes each enforces its own share. Buckets idle long
enough to be full again are forgotten, so memory stays bounded by the active keys.

Limits and caps key on addresses, never on how a request spells them (security review L4):
`127.0.0.2`, `2130706434`, `0x7f000002`, `0177.0.0.2` and `[::ffff:127.0.0.2]` are one host, and
a callback host name is keyed on the address it resolves to. An IPv6 address stands for its /64:
a site (or an attacker) commonly holds a whole /64, so per-address keys would give it 2**64
budgets. Behind a reverse proxy every client shares the proxy's key.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from yarl import URL

from ..errors import TooManyRequests
from ..outbound import OutboundError
from ..outbound.addresses import IPAddress, address_of, resolve

__all__ = ["IPV6_KEY_PREFIX", "RateLimiter", "address_key", "callback_key", "client_key"]

MAX_TRACKED_KEYS = 100_000
IPV6_KEY_PREFIX = 64


def address_key(address: IPAddress) -> str:
    """The key of one host: an IPv4 address (IPv4-mapped IPv6 included) in dotted form, or the
    /64 network of an IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((int(address), IPV6_KEY_PREFIX), strict=False)
        return str(network)
    return str(address)


def client_key(remote: str | None) -> str:
    """The key of a request's peer address (aiohttp's `request.remote`)."""
    try:
        return address_key(ipaddress.ip_address((remote or "").partition("%")[0]))
    except ValueError:
        return remote or "unknown"  # not an IP peer (a Unix socket): one key for all of them


async def callback_key(callback: str) -> str:
    """The key of a callback's host: the lowest key among the addresses it resolves to now (the
    name itself, lowercased, if it no longer resolves)."""
    url = URL(callback, encoded=True)
    host = url.raw_host or ""
    try:
        found = await resolve(host, url.port or 0)
        return min(address_key(address_of(info)) for info in found)
    except (OutboundError, ValueError):
        return host.lower()


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
