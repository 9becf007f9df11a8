"""HTTP/1.1 over asyncio for the hub's outbound calls: pooled keep-alive connections, and no more.

Why not aiohttp's client: at full fan-out its per-request machinery was ~56% of the event loop
(~0.45 ms of CPU per delivery, bench/fanout.py under py-spy), more than signing and storing the
delivery together. A delivery needs one request with a handful of headers and a status back, so
this module does exactly that: requests with a Content-Length body; responses framed by
Content-Length, chunked encoding or the end of the connection; TLS through the ssl module; a pool
bounded overall and per host; nothing else (no redirects, proxies, cookies or compression: the hub
wants none of them). Address policy lives in `outbound`, which hands the pool a resolver.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["ConnectionPool", "OutboundError", "Response"]

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one response
MAX_CHUNK_LINE = 1024
DEFAULT_IDLE_TIMEOUT = 15.0  # a kept-alive connection unused this long is closed

Key = tuple[str, str, int]  # scheme, host, port
Resolver = Callable[[str, int], Awaitable[list[str]]]


class OutboundError(Exception):
    """A request that produced no HTTP response. `kind` is a short label for logs and metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool


class _Connection(asyncio.Protocol):
    """One socket: bytes in a buffer, and a future to wait on for more."""

    def __init__(self, key: Key, forget: Callable[[_Connection], None]) -> None:
        self.key = key
        self._forget = forget
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False  # the peer closed, or the connection was lost
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._forget(self)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def more(self) -> bool:
        """Wait for more bytes; False once none can come."""
        if self.ended:
            return False
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        return True

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()


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
        self._idle: dict[Key, list[_Connection]] = {}
        self._open: set[_Connection] = set()
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
                return await self._exchange(key, head, body, max_body, body_on_success)
        except TimeoutError as exc:
            raise OutboundError("timeout", f"no answer from {key[1]} in {timeout:g}s") from exc
        finally:
            host.users -= 1
            if not host.users:
                del self._hosts[key]

    async def _exchange(
        self, key: Key, head: bytes, body: bytes | None, max_body: int, body_on_success: bool
    ) -> Response:
        """On a kept-alive connection if one is open (a server that closed one while it was idle
        has been seen to: it is skipped). A request is never sent twice: if the server drops the
        connection before answering, that is this attempt's outcome (RFC 9112 §9.3.1 allows no
        automatic retry of a POST), and the hub's retry schedule decides what comes next."""
        conn = self._take_idle(key) or await self._connect(key)
        keep = False
        try:
            assert conn.transport is not None
            conn.transport.write(head + body if body else head)
            response, keep = await _read_response(conn, max_body, body_on_success)
            return response
        finally:
            if keep and not conn.ended:
                self._put_idle(conn)
            else:
                conn.close()

    def _take_idle(self, key: Key) -> _Connection | None:
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.ended and now - conn.idle_since < self._idle_timeout:
                return conn
            conn.close()
        return None

    def _put_idle(self, conn: _Connection) -> None:
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

    async def _connect(self, key: Key) -> _Connection:
        scheme, host, port = key
        tls = scheme == "https"
        addresses = await self._resolve(host, port)
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()  # loading the system CAs takes ~70 ms
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(key, self._open.discard),
                    address,
                    port,
                    ssl=self._ssl if tls else None,
                    server_hostname=host.strip("[]") if tls else None,
                )
            except OSError as exc:
                failure = exc
                continue
            self._open.add(conn)
            return conn
        if isinstance(failure, ssl.SSLError):
            raise OutboundError("tls", f"TLS with {host} failed: {failure}") from failure
        raise OutboundError("connect", f"cannot connect to {host}:{port}: {failure}") from failure

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
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if not url.is_default_port():
        host = f"{host}:{url.port}"
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1", f"Host: {host}"]
    if "User-Agent" not in headers:
        lines.append(f"User-Agent: {user_agent}")
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n\0 ") or any(c in value for c in "\r\n\0"):
            raise OutboundError("protocol", f"refusing to send header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


async def _read_response(
    conn: _Connection, max_body: int, body_on_success: bool
) -> tuple[Response, bool]:
    """The response, and whether the connection can carry another request."""
    while True:
        version, status, headers = await _read_head(conn)
        if status == 101 or status >= 200:
            break  # 1xx answers other than 101 are interim: the real one follows
    if status == 101:
        raise OutboundError("protocol", "the server switched protocols")
    reusable = version == "HTTP/1.1" and "close" not in _tokens(headers, "Connection")
    length = _content_length(headers)
    chunked = _tokens(headers, "Transfer-Encoding")[-1:] == ["chunked"]
    if status in (204, 304):
        length, chunked = 0, False
    elif not chunked and length is None:
        reusable = False  # the body ends when the connection does
    if body_on_success or not 200 <= status < 300:
        if chunked:
            body, complete = await _read_chunked(conn, max_body)
        else:
            body, complete = await _read_body(conn, length, max_body)
        reusable = reusable and complete and not conn.buffer
    else:  # the caller ignores this body: drop it if it is here already, never wait for it
        body, complete = b"", length is not None and not chunked and len(conn.buffer) == length
        if complete:
            conn.buffer.clear()
        reusable = reusable and complete
    frozen = CIMultiDictProxy(headers)
    return Response(status, frozen, body[:max_body], len(body) > max_body), reusable


async def _read_head(conn: _Connection) -> tuple[str, int, CIMultiDict[str]]:
    buffer = conn.buffer
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise OutboundError("protocol", "response headers too large")
        if not await conn.more():
            raise OutboundError("protocol", "the server closed the connection without answering")
    if end > MAX_HEAD_BYTES:
        raise OutboundError("protocol", "response headers too large")
    head = bytes(buffer[:end]).decode("latin-1")
    del buffer[: end + 4]
    status_line, *lines = head.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit() or rest[3:4] not in ("", " "):
        raise OutboundError("protocol", f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise OutboundError("protocol", f"malformed header line: {line[:80]!r}")
        headers.add(name, value.strip(" \t"))
    return version, int(code), headers


def _tokens(headers: CIMultiDict[str], name: str) -> list[str]:
    return [t.strip().lower() for v in headers.getall(name, ()) for t in v.split(",") if t.strip()]


def _content_length(headers: CIMultiDict[str]) -> int | None:
    values = {v.strip() for v in headers.getall("Content-Length", ())}
    if not values:
        return None
    if len(values) > 1 or not all(v.isdigit() for v in values):
        raise OutboundError("protocol", f"bad Content-Length: {sorted(values)}")
    return int(values.pop())


async def _read_body(conn: _Connection, length: int | None, max_body: int) -> tuple[bytes, bool]:
    """`length` bytes (to the end of the connection if None), or one more than `max_body`;
    True if the whole body was read."""
    want = max_body + 1 if length is None else min(length, max_body + 1)
    buffer = conn.buffer
    while len(buffer) < want:
        if not await conn.more():
            if length is not None:
                raise OutboundError("protocol", "the connection ended inside the body")
            break
    body = bytes(buffer[:want])
    del buffer[:want]
    return body, len(body) == length if length is not None else conn.ended and not buffer


async def _read_chunked(conn: _Connection, max_body: int) -> tuple[bytes, bool]:
    """A chunked body (RFC 9112 §7.1), trailers skipped; stops one byte past `max_body`."""
    buffer = conn.buffer
    parts: list[bytes] = []
    total = 0
    while total <= max_body:
        line = await _read_line(conn)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise OutboundError("protocol", f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while await _read_line(conn):  # trailer fields, up to the empty line
                pass
            return b"".join(parts), True
        take = min(size, max_body + 1 - total)
        while len(buffer) < take + (2 if take == size else 0):
            if not await conn.more():
                raise OutboundError("protocol", "the connection ended inside a chunk")
        parts.append(bytes(buffer[:take]))
        total += take
        if take < size:
            break
        if buffer[take : take + 2] != b"\r\n":
            raise OutboundError("protocol", "a chunk did not end with CRLF")
        del buffer[: take + 2]
    return b"".join(parts), False


async def _read_line(conn: _Connection) -> bytes:
    buffer = conn.buffer
    while (end := buffer.find(b"\r\n")) < 0:
        if len(buffer) > MAX_CHUNK_LINE:
            raise OutboundError("protocol", "chunk line too long")
        if not await conn.more():
            raise OutboundError("protocol", "the connection ended inside a chunked body")
    line = bytes(buffer[:end])
    del buffer[: end + 2]
    return line

