"""Where a verifier finds public keys: a static JWKS, or a JWKS URL fetched and cached.

A remote source refetches when asked for an unknown `kid` (the transmitter may have rotated), at
most once per `min_refetch_interval` after a good fetch, so a stream of forged kids cannot make it
hammer the URL. A failed fetch is not a verdict on any token: it raises `KeysUnavailable` (the
receiver answers 503 and the transmitter retries), the keys already fetched keep serving the kids
they know, and the next try waits a backoff that doubles from `first_backoff` up to
`max_backoff`. Only a good fetch starts the refetch interval, so a failed first fetch (a receiver
that starts while the hub is down) is tried again within seconds, not a minute.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp

from ._bodies import read_body
from ._keys import KeySet, SigningKey
from .errors import ConfigurationError, KeysUnavailable

__all__ = ["JwksSource", "RemoteJwks", "StaticJwks"]

DEFAULT_TIMEOUT = 5.0
MAX_JWKS_BYTES = 256 * 1024
DEFAULT_CACHE_TTL = 300.0
DEFAULT_MIN_REFETCH_INTERVAL = 60.0
DEFAULT_FIRST_BACKOFF = 1.0  # after one failed fetch; doubles with each failure in a row
DEFAULT_MAX_BACKOFF = 60.0


class JwksSource(Protocol):
    async def key(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK with this kid (or the only key when kid is None), or None."""


def _index(jwks: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    if not isinstance(jwks, Mapping):
        raise ConfigurationError("a JWKS is a JSON object with a 'keys' array")
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ConfigurationError("a JWKS needs a 'keys' array")
    by_kid: dict[str | None, dict[str, Any]] = {}
    for jwk in keys:
        if isinstance(jwk, dict) and jwk.get("use", "sig") == "sig":
            by_kid[jwk.get("kid")] = jwk
    if len(by_kid) == 1:
        by_kid.setdefault(None, next(iter(by_kid.values())))
    return by_kid


class StaticJwks:
    def __init__(self, jwks: Mapping[str, Any] | KeySet | Iterable[SigningKey]) -> None:
        if isinstance(jwks, KeySet):
            jwks = jwks.jwks()
        elif not isinstance(jwks, Mapping):
            keys = list(jwks)
            if not all(isinstance(key, SigningKey) for key in keys):
                raise ConfigurationError("a JWKS is a JSON object with a 'keys' array")
            jwks = {"keys": [key.public_jwk() for key in keys]}
        self._keys = _index(jwks)

    async def key(self, kid: str | None) -> dict[str, Any] | None:
        return self._keys.get(kid)


class RemoteJwks:
    """A JWKS URL, fetched when first needed and cached; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        first_backoff: float = DEFAULT_FIRST_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < first_backoff <= max_backoff:
            raise ConfigurationError("the backoff bounds must satisfy 0 < first <= max")
        self.url = url
        self._session = session
        self._cache_ttl = cache_ttl
        self._min_refetch = min_refetch_interval
        self._timeout = timeout
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at: float | None = None  # the last good fetch
        self._failures = 0  # failed fetches since the last good one
        self._retry_at = 0.0  # no fetch before this, after a failure
        self._lock = asyncio.Lock()
        self.fetches = 0  # good fetches

    async def _fetch(self) -> dict[str | None, dict[str, Any]]:
        session = self._session or aiohttp.ClientSession()
        try:
            async with session.get(
                self.url,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise ConfigurationError(f"JWKS {self.url} answered {response.status}")
                body = await read_body(response.content, MAX_JWKS_BYTES)
                if body is None:
                    raise ConfigurationError(f"JWKS {self.url} is over {MAX_JWKS_BYTES} bytes")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConfigurationError(f"cannot fetch JWKS {self.url}: {exc}") from exc
        finally:
            if self._session is None:
                await session.close()
        try:
            return _index(json.loads(body))
        except ValueError as exc:
            raise ConfigurationError(f"JWKS {self.url} is not JSON") from exc

    def _wants_fetch(self, kid: str | None, now: float) -> bool:
        if self._fetched_at is None or now - self._fetched_at > self._cache_ttl:
            return True
        return kid not in self._keys and now - self._fetched_at >= self._min_refetch

    async def key(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK for `kid`, or None when a recent good fetch does not have it. Raises
        `KeysUnavailable` when a fetch is needed and fails, or is backing off from a failure,
        unless the keys fetched before know `kid`."""
        async with self._lock:
            now = self._clock()
            if not self._wants_fetch(kid, now):
                return self._keys.get(kid)
            if now < self._retry_at:
                return self._known(kid, f"JWKS {self.url} failed recently", self._retry_at - now)
            try:
                keys = await self._fetch()
            except ConfigurationError as exc:
                self._failures += 1
                backoff = min(self._max_backoff, self._first_backoff * 2 ** (self._failures - 1))
                self._retry_at = self._clock() + backoff
                return self._known(kid, str(exc), backoff, cause=exc)
            self._keys, self._fetched_at = keys, self._clock()
            self._failures, self._retry_at = 0, 0.0
            self.fetches += 1
            return self._keys.get(kid)

    def _known(
        self, kid: str | None, reason: str, retry_after: float, *, cause: Exception | None = None
    ) -> dict[str, Any]:
        """Good keys are not forgotten: a kid fetched before still verifies while fetching fails."""
        if kid in self._keys:
            return self._keys[kid]
        raise KeysUnavailable(reason, retry_after=retry_after) from cause
