"""Where a verifier finds public keys: a static JWKS, or a JWKS URL fetched and cached.

A remote source refetches when asked for an unknown `kid` (the transmitter may have rotated), at
most once per `min_refetch_interval`, so a stream of forged kids cannot make it hammer the URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp

from ._bodies import read_body
from ._errors import ConfigurationError
from ._keys import KeySet, SigningKey

__all__ = ["JwksSource", "RemoteJwks", "StaticJwks"]

DEFAULT_TIMEOUT = 5.0
MAX_JWKS_BYTES = 256 * 1024


class JwksSource(Protocol):
    async def key(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK with this kid (or the only key when kid is None), or None."""


def _index(jwks: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
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
            jwks = {"keys": [key.public_jwk() for key in jwks]}
        self._keys = _index(jwks)

    async def key(self, kid: str | None) -> dict[str, Any] | None:
        return self._keys.get(kid)


class RemoteJwks:
    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 60.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._session = session
        self._cache_ttl = cache_ttl
        self._min_refetch = min_refetch_interval
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _fetch(self) -> None:
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
            self._keys = _index(json.loads(body))
        except ValueError as exc:
            raise ConfigurationError(f"JWKS {self.url} is not JSON") from exc
        self.fetches += 1

    async def key(self, kid: str | None) -> dict[str, Any] | None:
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > self._cache_ttl
            unknown = kid not in self._keys
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self._min_refetch
            if stale or (unknown and may_refetch):
                self._fetched_at = now
                await self._fetch()
            return self._keys.get(kid)
