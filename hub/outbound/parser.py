"""HTTP/1.1 on one connection: the socket's protocol object, and reading a response from it.

Responses are framed by Content-Length, chunked encoding (RFC 9112 §7.1) or the end of the
connection; 1xx answers are skipped and 101 refused; heads and bodies are capped. Anything
malformed is an `OutboundError`, never a guess. `pool` pools these connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Connection", "OutboundError", "Response", "read_response"]

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one response
MAX_CHUNK_LINE = 1024
HEX_DIGITS = b"0123456789abcdefABCDEF"

Key = tuple[str, str, int]  # scheme, host, port


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


class Connection(asyncio.Protocol):
    """One socket: bytes in a buffer, and a future to wait on for more."""

    def __init__(self, key: Key, forget: Callable[[Connection], None]) -> None:
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


async def read_response(
    conn: Connection, max_body: int, body_on_success: bool
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


async def _read_until(
    conn: Connection, delimiter: bytes, limit: int, too_long: str, ended: str
) -> bytes:
    """The bytes before `delimiter` (both consumed), refusing more than `limit` of them."""
    buffer = conn.buffer
    while (end := buffer.find(delimiter)) < 0:
        if len(buffer) > limit:
            raise OutboundError("protocol", too_long)
        if not await conn.more():
            raise OutboundError("protocol", ended)
    if end > limit:
        raise OutboundError("protocol", too_long)
    found = bytes(buffer[:end])
    del buffer[: end + len(delimiter)]
    return found


async def _read_head(conn: Connection) -> tuple[str, int, CIMultiDict[str]]:
    head = (
        await _read_until(
            conn,
            b"\r\n\r\n",
            MAX_HEAD_BYTES,
            "response headers too large",
            "the server closed the connection without answering",
        )
    ).decode("latin-1")
    status_line, *lines = head.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not _ascii_digits(code) or rest[3:4] not in (
        "",
        " ",
    ):
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
    if len(values) > 1 or not all(_ascii_digits(v) for v in values):
        raise OutboundError("protocol", f"bad Content-Length: {sorted(values)}")
    return int(values.pop())


def _ascii_digits(text: str) -> bool:
    """str.isdigit() also takes "²" or "٣", which int() then refuses with a ValueError."""
    return text.isascii() and text.isdigit()


async def _read_body(conn: Connection, length: int | None, max_body: int) -> tuple[bytes, bool]:
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


async def _read_chunked(conn: Connection, max_body: int) -> tuple[bytes, bool]:
    """A chunked body (RFC 9112 §7.1), trailers skipped; stops one byte past `max_body`."""
    buffer = conn.buffer
    parts: list[bytes] = []
    total = 0
    while total <= max_body:
        line = await _read_line(conn)
        size_text = line.split(b";", 1)[0].strip()
        # Hex digits only: int(..., 16) would also take "-2", "+2" or "0x2".
        if not size_text or size_text.strip(HEX_DIGITS) or len(size_text) > 16:
            raise OutboundError("protocol", f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
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


async def _read_line(conn: Connection) -> bytes:
    return await _read_until(
        conn,
        b"\r\n",
        MAX_CHUNK_LINE,
        "chunk line too long",
        "the connection ended inside a chunked body",
    )
