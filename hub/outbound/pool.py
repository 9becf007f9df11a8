"""HTTP/1.1 over asyncio for the hub's outbound calls: pooled keep-alive connections, and no more.

Why not aiohttp's client: at full fan-out its per-request machinery was ~56% of the event loop
(~0.45 ms of CPU per delivery, bench/fanout.py under py-spy), more than signing and storing the
delivery together. A delivery needs one request with a handful of headers and a status back, so
this module does exactly that: requests with a Content-Length body (`parser` reads the responses);
TLS through the ssl module; a pool bounded overall and per host; nothing else (no redirects,
proxies, cookies or compression: the hub wants none of them). Address policy lives in
`outbound.client`, which hands the pool a resolver: the pool connects only to the addresses that
resolver returns, racing them with happy eyeballs (RFC 8305) so one black-holed address does not
eat the whole timeout.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

import aiohappyeyeballs
from yarl import URL

from .parser import Connection, Key, OutboundError, Response, read_response

__all__ = ["AddrInfo", "ConnectionPool", "OutboundError", "Resolver", "Response"]

DEFAULT_IDLE_TIMEOUT = 15.0  # a kept-alive connection unused this long is closed
# RFC 8305 §8 recommends 250 ms before the next address is tried alongside the first.
HAPPY_EYEBALLS_DELAY = 0.25

# One entry of `socket.getaddrinfo`: family, type, proto, canonname, sockaddr.
AddrInfo = aiohappyeyeballs.AddrInfoType
# (host, port) -> the addresses the pool may connect to, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[AddrInfo]]]

# RFC 9110 §5.6.2: a header name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What may stay as it is in a request target; anything else (non-ASCII) is percent-encoded.
_TARGET_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


class _Host:
    """The per-host cap, and how many requests use it (the entry goes when none do)."""

    __slots__ = ("slots", "users")

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.users = 0


class ConnectionPool:
    """Keep-alive connections per (scheme, host, port), `limit` requests at once overall and
    `limit_per_host` per host. `resolve(host, port)` returns the addresses to try, in order."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        user_agent: str,
        limit: int,
        limit_per_host: int,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self._resolve = resolve
        self._user_agent = user_agent
        self._limit_per_host = limit_per_host
        self._ssl = ssl_context  # the default one is made at the first https connection
        self._idle_timeout = idle_timeout
        self._requests = asyncio.Semaphore(limit)
        self._hosts: dict[Key, _Host] = {}
        self._idle: dict[Key, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def request(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_body: int,
        body_on_success: bool,
    ) -> Response:
        """One exchange within `timeout` seconds in all (waiting for a slot included)."""
        key: Key = (url.scheme, url.raw_host or "", url.port or 0)
        head = _request_head(method, url, headers, body, self._user_agent)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(self._limit_per_host)
        host.users += 1
        try:
            async with asyncio.timeout(timeout), host.slots, self._requests:
                return await self._exchange(key, method, head, body, max_body, body_on_success)
        except TimeoutError as exc:
            raise OutboundError("timeout", f"no answer from {key[1]} in {timeout:g}s") from exc
        finally:
            host.users -= 1
            if not host.users:
                del self._hosts[key]

    async def _exchange(
        self,
        key: Key,
        method: str,
        head: bytes,
        body: bytes | None,
        max_body: int,
        body_on_success: bool,
    ) -> Response:
        """On a kept-alive connection if one is open (a server that closed one while it was idle
        has been seen to: it is skipped). A request is never sent twice: if the server drops the
        connection before answering, that is this attempt's outcome (RFC 9112 §9.3.1 allows no
        automatic retry of a POST), and the hub's retry schedule decides what comes next."""
        conn = self._take_idle(key) or await self._connect(key)
        keep = False
        try:
            conn.send(head + body if body else head)
            response, keep = await read_response(conn, method, max_body, body_on_success)
            return response
        finally:
            if keep and not conn.ended:
                self._put_idle(conn)
            else:
                conn.close()

    def _take_idle(self, key: Key) -> Connection | None:
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.ended and now - conn.idle_since < self._idle_timeout:
                return conn
            conn.close()
        return None

    def _put_idle(self, conn: Connection) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self._limit_per_host:
            conn.close()
            return
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._idle_timeout, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle too long, so a hub with many quiet subscribers holds no sockets
        (and no entries) for them."""
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if not c.ended and now - c.idle_since < self._idle_timeout]
            for conn in idle:
                if conn not in keep:
                    conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle:
            self._sweeper = asyncio.get_running_loop().call_later(self._idle_timeout, self._sweep)

    async def _connect(self, key: Key) -> Connection:
        scheme, host, port = key
        tls = scheme == "https"
        addresses = await self._resolve(host, port)
        if not addresses:
            raise OutboundError("dns", f"{host} has no address to connect to")
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()  # loading the system CAs takes ~70 ms
        try:
            sock = await aiohappyeyeballs.start_connection(
                addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
            )
        except (OSError, RuntimeError) as exc:  # uvloop may raise RuntimeError
            raise OutboundError("connect", f"cannot connect to {host}:{port}: {exc}") from exc
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: Connection(key, self._open.discard),
                sock=sock,
                ssl=self._ssl if tls else None,
                server_hostname=host.strip("[]") if tls else None,
            )
        except BaseException as exc:
            sock.close()
            if isinstance(exc, ssl.SSLError):
                raise OutboundError("tls", f"TLS with {host} failed: {exc}") from exc
            if isinstance(exc, OSError):
                raise OutboundError("connect", f"cannot connect to {host}:{port}: {exc}") from exc
            raise
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing


def _request_head(
    method: str, url: URL, headers: Mapping[str, str], body: bytes | None, user_agent: str
) -> bytes:
    lines = [_request_line(method, url)]
    if "User-Agent" not in headers:
        lines.append(f"User-Agent: {user_agent}")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value or "\0" in value:
            raise OutboundError("protocol", f"refusing to send header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


@functools.lru_cache(maxsize=4096)
def _request_line(method: str, url: URL) -> str:
    """The request line and Host header: the same for every delivery to a callback."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if not url.is_default_port():
        host = f"{host}:{url.port}"
    target = url.raw_path_qs or "/"
    if not target.isascii():  # a request line is ASCII (RFC 9112 §3.2): send UTF-8 escaped
        target = quote(target, safe=_TARGET_SAFE)
    return f"{method} {target} HTTP/1.1\r\nHost: {host}"
