"""HTTP/1.1 on one connection: the socket's protocol object, and reading a response from it.

A response is framed as RFC 9112 §6.3 says, in its order: no body after HEAD, 204 or 304;
Transfer-Encoding before Content-Length (chunked when chunked is the final coding, else to the end
of the connection, which is then not reused); Content-Length; else to the end of the connection.
Up to MAX_INTERIM_RESPONSES 1xx answers are skipped and 101 is refused; heads, trailers and bodies
are capped. Anything malformed is an `OutboundError` ("protocol"), never a guess and never another
exception. tests/hub/test_http1_differential.py holds these decisions against h11's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Connection", "OutboundError", "Response", "read_response"]

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one response; also the trailer section
MAX_CHUNK_LINE = 1024
MAX_INTERIM_RESPONSES = 10  # 1xx answers before the final one (a server could send them forever)
MAX_CONTENT_LENGTH_DIGITS = 20  # as h11: far beyond any body cap, and no int() of a huge string

# RFC 9112 §4, and h11's grammar for what it accepts: any reason phrase without NUL or control
# whitespace. ASCII only: str.isdigit() would take "²" and int() would then fail.
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: (?:[ \t]|[^\x00\s])*)?", re.ASCII)
# RFC 9110 §5.1, §5.5: a token, then a value of visible characters and inner spaces or tabs.
_FIELD_LINE = re.compile(
    r"([-!#$%&'*+.^_`|~0-9A-Za-z]+):[ \t]*((?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*", re.ASCII
)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# RFC 9112 §7.1: hex digits (not "0x2", "+2" or "-2"), extensions skipped, then optional spaces.
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\n]*)?[ \t]*")

_FOLD = " \t"

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

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise OutboundError("connect", "the connection closed before the request was sent")
        self.transport.write(data)

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True, slots=True)
class _Framing:
    """How the body of one response is delimited, and whether that allows reuse."""

    length: int | None  # bytes of body; None with chunked False: to the end of the connection
    chunked: bool
    reusable: bool


async def read_response(
    conn: Connection, method: str, max_body: int, body_on_success: bool
) -> tuple[Response, bool]:
    """The response to a `method` request, and whether the connection can carry another."""
    for _ in range(MAX_INTERIM_RESPONSES + 1):
        version, status, headers = await _read_head(conn)
        if status >= 200:
            break
        if status == 101:
            raise OutboundError("protocol", "the server switched protocols")
    else:  # 1xx answers carry no body: the real one follows, unless the server never stops
        raise OutboundError("protocol", f"more than {MAX_INTERIM_RESPONSES} interim responses")
    framing = _framing(method, version, status, headers)
    length, chunked = framing.length, framing.chunked
    if body_on_success or not 200 <= status < 300:
        if chunked:
            body, complete = await _read_chunked(conn, max_body)
        else:
            body, complete = await _read_body(conn, length, max_body)
        reusable = framing.reusable and complete and not conn.buffer
    else:  # the caller ignores this body: drop it if it is here already, never wait for it
        body, complete = b"", length is not None and not chunked and len(conn.buffer) == length
        if complete:
            conn.buffer.clear()
        reusable = framing.reusable and complete
    frozen = CIMultiDictProxy(headers)
    return Response(status, frozen, body[:max_body], len(body) > max_body), reusable


def _framing(method: str, version: str, status: int, headers: CIMultiDict[str]) -> _Framing:
    """RFC 9112 §6.3, for a final response: how its body ends. Malformed length headers are
    refused even where no body follows."""
    reusable = version == "1.1" and "close" not in _tokens(headers, "Connection")
    length = _content_length(headers)
    codings = _transfer_codings(headers)
    if method == "HEAD" or status in (204, 304):
        return _Framing(0, False, reusable)  # whatever the length headers say
    if codings is not None:
        # Both headers: Transfer-Encoding wins (§6.3 item 3), but a server that sends both may be
        # trying to split responses; its connection is not used again.
        reusable = reusable and length is None
        if codings[-1] == "chunked":
            return _Framing(None, True, reusable)
        return _Framing(None, False, False)  # another final coding: the body ends at the close
    if length is not None:
        return _Framing(length, False, reusable)
    return _Framing(None, False, False)


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
    """The status line and header fields of one response: the HTTP minor version, the status."""
    head = (
        await _read_until(
            conn,
            b"\r\n\r\n",
            MAX_HEAD_BYTES,
            "response headers too large",
            "the server closed the connection without answering",
        )
    ).decode("latin-1")
    status_line, _, fields = head.partition("\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise OutboundError("protocol", f"not an HTTP/1.x status line: {status_line[:80]!r}")
    status = int(match.group(2))
    if not 100 <= status <= 599:
        raise OutboundError("protocol", f"status {status} is not an HTTP status code")
    return f"1.{match.group(1)}", status, _fields(fields)


def _fields(text: str) -> CIMultiDict[str]:
    """Header (or trailer) field lines, CRLF-separated. An obsolete line folding (a line that
    starts with a space or tab) continues the previous field, joined by one space (RFC 9112 §5.2).
    A bare CR or LF is refused: only CRLF ends a line here."""
    headers: CIMultiDict[str] = CIMultiDict()
    lines: list[str] = []
    for line in text.split("\r\n") if text else ():
        if line[:1] in (" ", "\t"):
            if not lines:
                raise OutboundError("protocol", f"a folded line starts the fields: {line[:80]!r}")
            lines[-1] = f"{lines[-1]} {line.lstrip(_FOLD)}"
        else:
            lines.append(line)
    for line in lines:
        match = _FIELD_LINE.fullmatch(line)
        if match is None:
            raise OutboundError("protocol", f"malformed header line: {line[:80]!r}")
        headers.add(match.group(1), match.group(2))
    return headers


def _tokens(headers: CIMultiDict[str], name: str) -> list[str]:
    return [t.strip().lower() for v in headers.getall(name, ()) for t in v.split(",") if t.strip()]


def _content_length(headers: CIMultiDict[str]) -> int | None:
    """The one length all Content-Length fields state (RFC 9110 §8.6: "5, 5" is 5), or None."""
    values = {v.strip() for field in headers.getall("Content-Length", ()) for v in field.split(",")}
    if not values:
        return None
    value = values.pop() if len(values) == 1 else ""
    if not _DIGITS.fullmatch(value) or len(value) > MAX_CONTENT_LENGTH_DIGITS:
        raise OutboundError("protocol", f"bad Content-Length: {headers.getall('Content-Length')}")
    return int(value)


def _transfer_codings(headers: CIMultiDict[str]) -> list[str] | None:
    """The transfer codings, in order, or None without the header. Chunked may be applied once
    (RFC 9112 §6.1), and a header that lists nothing is refused."""
    if "Transfer-Encoding" not in headers:
        return None
    codings = _tokens(headers, "Transfer-Encoding")
    if not codings or codings.count("chunked") > 1:
        raise OutboundError("protocol", f"bad Transfer-Encoding: {codings}")
    return codings


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
    """A chunked body (RFC 9112 §7.1), trailers checked and dropped; stops one byte past
    `max_body`."""
    buffer = conn.buffer
    parts: list[bytes] = []
    total = 0
    while total <= max_body:
        line = await _read_line(conn)
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise OutboundError("protocol", f"bad chunk size line {line[:20]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            await _read_trailers(conn)
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


async def _read_trailers(conn: Connection) -> None:
    """The trailer section after the last chunk, up to its empty line: checked like header
    fields, capped like a head, and dropped (the hub uses no trailer)."""
    while len(conn.buffer) < 2 and await conn.more():
        pass
    if conn.buffer[:2] == b"\r\n":
        del conn.buffer[:2]
        return
    section = await _read_until(
        conn,
        b"\r\n\r\n",
        MAX_HEAD_BYTES,
        "response trailers too large",
        "the connection ended inside a chunked body",
    )
    _fields(section.decode("latin-1"))


async def _read_line(conn: Connection) -> bytes:
    return await _read_until(
        conn,
        b"\r\n",
        MAX_CHUNK_LINE,
        "chunk line too long",
        "the connection ended inside a chunked body",
    )
