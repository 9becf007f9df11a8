"""How the hub's HTTP/1.1 client frames responses (RFC 9112 §6.3), against scripted servers.

Code review issue 9: Transfer-Encoding before Content-Length, a body to the close after another
final coding, status codes 100-599 only, a bounded number of 1xx answers, no body after HEAD.
Each server here answers every request on its connection with the same bytes, and counts the
connections, so a test can see whether the client used one again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.outbound.client import OutboundClient, OutboundError

from .test_http1 import OPEN, read_request

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Repeating:
    """A loopback server answering each request with `response`, leaving the connection open."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/cb"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await read_request(reader)
                writer.write(self.response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    async with OutboundClient(OPEN) as outbound:
        yield outbound


async def exchange_twice(
    client: OutboundClient, response: bytes, method: str = "POST"
) -> tuple[list[tuple[int, bytes]], int]:
    """Two requests in a row: what each got, and how many connections they took."""
    server = Repeating(response)
    url = await server.start()
    try:
        answers = []
        for _ in range(2):
            got = await client.request(method, url, data=b"x", timeout=2, max_body=100)
            answers.append((got.status, got.body))
        return answers, server.connections
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("response", "body", "connections"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", 1),
        # Transfer-Encoding wins over Content-Length; a server sending both is not trusted again.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"2\r\nok\r\n0\r\n\r\n", b"ok", 2),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
         b"ok", 1),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", b"ok", 1),  # RFC 9110 §8.6
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok", b"ok",
         2),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", 2),
        (CONTINUE * 10 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", 1),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nT: a\r\n\r\n",
         b"ok", 1),
    ],
    ids=["length", "te-and-length", "gzip-chunked", "5,5", "close", "http/1.0", "10x100",
         "trailer"],
)
async def test_framing_and_reuse(
    client: OutboundClient, response: bytes, body: bytes, connections: int
) -> None:
    answers, used = await exchange_twice(client, response)
    assert answers == [(200, body)] * 2 and used == connections


async def test_a_final_coding_other_than_chunked_reads_to_the_close(
    client: OutboundClient,
) -> None:
    """RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; if chunked is not the final
    coding, the body ends when the connection does (repro http1_edges.py)."""
    server = await asyncio.start_server(_answer_then_close(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nokEXTRA"
    ), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/cb"
    async with server:
        answer = await client.request("POST", url, data=b"x", timeout=2, max_body=100)
    assert (answer.status, answer.body) == (200, b"okEXTRA")


def _answer_then_close(response: bytes):  # type: ignore[no-untyped-def]
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()
        writer.close()

    return script


async def test_a_head_response_has_no_body(client: OutboundClient) -> None:
    """The reader knows the method: after HEAD, Content-Length describes a body never sent."""
    answers, used = await exchange_twice(
        client, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method="HEAD"
    )
    assert answers == [(200, b"")] * 2 and used == 1


async def test_a_folded_header_line_is_unfolded(client: OutboundClient) -> None:
    """RFC 9112 §5.2: a user agent replaces an obsolete line folding with a space."""
    server = Repeating(b"HTTP/1.1 200 OK\r\nX-Note: a\r\n \tb\r\nContent-Length: 0\r\n\r\n")
    url = await server.start()
    try:
        answer = await client.request("POST", url, data=b"x", timeout=2, max_body=10)
    finally:
        await server.close()
    assert answer.headers["X-Note"] == "a b"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 042 Odd\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",  # not a 1xx
        b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        CONTINUE * 11 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX Y: z\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 2\r\n\r\nok",  # a bare LF is no line end
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nbad trailer\r\n\r\n",
        # trailers beyond 64 KiB
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: x\r\n" * 12_000,
        b"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
    ],
    ids=lambda response: response[:60].decode(errors="replace"),
)
async def test_malformed_framing_is_a_protocol_error(
    client: OutboundClient, response: bytes
) -> None:
    server = Repeating(response)
    url = await server.start()
    try:
        with pytest.raises(OutboundError) as raised:
            await client.request("POST", url, data=b"x", timeout=1, max_body=100)
    finally:
        await server.close()
    assert raised.value.kind == "protocol"
