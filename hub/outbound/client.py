"""The one HTTP client the hub uses to call out: callbacks, topic fetches.

Every outbound request goes through `OutboundClient`, which
- refuses destinations that resolve to an address that is not globally routable (see
  `addresses`) unless the operator allows it; the check runs on the resolved addresses at connect
  time (the pool's resolver), so a DNS answer that changes between subscribe and delivery cannot
  smuggle a private address in, and the pool connects only to the addresses that passed;
- follows no redirects, uses no proxy, and bounds every timeout;
- reads at most a capped number of response bytes.
The HTTP itself is `pool`'s small keep-alive client (see there for why not aiohttp's).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping

from yarl import URL

from .. import __version__
from .addresses import DestinationPolicy, RefusedDestination, address_of, resolve
from .pool import AddrInfo, ConnectionPool, OutboundError
from .pool import Response as OutboundResponse

__all__ = [
    "DestinationPolicy",
    "OutboundClient",
    "OutboundError",
    "OutboundResponse",
    "RefusedDestination",
]

USER_AGENT = f"sethub/{__version__} (WebSub hub)"
DEFAULT_CONNECTION_LIMIT = 200
DEFAULT_CONNECTION_LIMIT_PER_HOST = 32


class OutboundClient:
    """The pooled client with the hub's safety rules. Use as an async context manager.

    `ssl_context` replaces the default (system CAs, hostname checked), e.g. to trust a private CA.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        limit: int = DEFAULT_CONNECTION_LIMIT,
        limit_per_host: int = DEFAULT_CONNECTION_LIMIT_PER_HOST,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._ssl_context = ssl_context
        self._pool: ConnectionPool | None = None

    async def __aenter__(self) -> OutboundClient:
        self._pool = ConnectionPool(
            self._allowed_addresses,
            user_agent=USER_AGENT,
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            ssl_context=self._ssl_context,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _allowed_addresses(self, host: str, port: int) -> list[AddrInfo]:
        """The pool's resolver: only the addresses the policy permits, checked at connect time."""
        found = await resolve(host, port)
        allowed = [info for info in found if self.policy.permits(address_of(info))]
        if not allowed:
            shown = ", ".join(str(address_of(info)) for info in found)
            raise RefusedDestination(f"{host} resolves to {shown}, which this hub does not call")
        return allowed

    async def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        max_body: int,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        body_on_success: bool = True,
    ) -> OutboundResponse:
        """One request, no redirects; `url` is sent exactly as given (already encoded).

        The body is read to its end or to `max_body` bytes, within the timeout. With
        `body_on_success` False a 2xx body is not read at all: a caller that ignores it must not
        wait for a subscriber that trickles it.
        """
        if self._pool is None:
            raise RuntimeError("OutboundClient used outside its context")
        target = _parse(url)
        if target.scheme not in ("http", "https") or not target.raw_host:
            raise RefusedDestination(f"{url} is not an absolute http(s) URL")
        return await self._pool.request(
            method,
            target,
            headers=headers or {},
            body=data,
            timeout=timeout,
            max_body=max_body,
            body_on_success=body_on_success,
        )


@functools.lru_cache(maxsize=4096)
def _parse(url: str) -> URL:
    """Callback URLs repeat for every delivery; parsing one is not free."""
    return URL(url, encoded=True)
