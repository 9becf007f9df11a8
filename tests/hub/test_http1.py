"""The hub's HTTP/1.1 client against real loopback servers: framing, keep-alive, caps, TLS.

Scripted servers (asyncio.start_server) send exact bytes, including the malformed ones a real
aiohttp server would never produce; aiohttp servers check the ordinary paths.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from hub.outbound.client import DestinationPolicy, OutboundClient, OutboundError
from hub.outbound.pool import AddrInfo, ConnectionPool

from .support import free_port

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OPEN = DestinationPolicy(allow_private=True)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request: its head, and a body as long as its Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


async def scripted(script: Script) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def answering(response: bytes, *, then_close: bool = True) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()
        if then_close:
            writer.close()

    return script


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    async with OutboundClient(OPEN) as outbound:
        yield outbound


@pytest.mark.parametrize(
    ("response", "status", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello"),
        (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
            202,
            b"abcdefg",
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the end", 200, b"until the end"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201,
         b"ok"),
        (b"HTTP/1.1 410 Gone\r\ncontent-length: 4\r\nX-Multi: a\r\nX-Multi: b\r\n\r\ngone", 410,
         b"gone"),
    ],
)
async def test_response_framings(
    client: OutboundClient, response: bytes, status: int, body: bytes
) -> None:
    server, base = await scripted(answering(response))
    async with server:
        answer = await client.request("POST", f"{base}/cb", data=b"x", timeout=2, max_body=100)
    assert (answer.status, answer.body, answer.truncated) == (status, body, False)


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + b"x" * 50,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"19\r\n" + b"x" * 25 + b"\r\n"
        + b"19\r\n" + b"x" * 25 + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 50,
    ],
)
async def test_bodies_are_capped_whatever_their_framing(
    client: OutboundClient, response: bytes
) -> None:
    server, base = await scripted(answering(response))
    async with server:
        answer = await client.request("GET", f"{base}/", timeout=2, max_body=30)
    assert answer.body == b"x" * 30 and answer.truncated


@pytest.mark.parametrize(
    "response",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        # Code review issue 4: str.isdigit() took these, then int() raised ValueError.
        b"HTTP/1.1 2\xb90 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nxx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nhi\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nhi\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"",
    ],
    ids=lambda response: response[:40].decode(errors="replace"),
)
async def test_malformed_answers_are_protocol_errors(
    client: OutboundClient, response: bytes
) -> None:
    server, base = await scripted(answering(response))
    async with server:
        with pytest.raises(OutboundError) as raised:
            await client.request("POST", f"{base}/cb", data=b"x", timeout=2, max_body=100)
    assert raised.value.kind == "protocol"


async def test_the_request_is_sent_as_given(client: OutboundClient) -> None:
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        writer.close()

    server, base = await scripted(script)
    port = base.rsplit(":", 1)[1]
    async with server:
        await client.request("POST", f"{base}/cb/%7Euser?a=1&b=%2F#frag", data=b"body",
                             headers={"Content-Type": "application/secevent+jwt"}, timeout=2,
                             max_body=10)
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /cb/%7Euser?a=1&b=%2F HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}" in lines
    assert "Content-Type: application/secevent+jwt" in lines and "Content-Length: 4" in lines
    assert any(line.startswith("User-Agent: sethub/") for line in lines)
    assert body == b"body"


@pytest.mark.parametrize(
    "headers",
    [
        {"Link": "<a>\r\nX-Evil: 1"},
        {"X-A\tB": "1"},  # a header name is a token: no tab, control character or space
        {"X-A\x01": "1"},
        {"X A": "1"},
        {"": "1"},
    ],
)
async def test_header_injection_is_refused_before_anything_is_sent(
    client: OutboundClient, headers: dict[str, str]
) -> None:
    connections = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server, base = await scripted(script)
    async with server:
        with pytest.raises(OutboundError) as raised:
            await client.request("POST", f"{base}/", data=b"x", timeout=2, max_body=10,
                                 headers=headers)
    assert raised.value.kind == "protocol" and connections == 0


async def test_a_non_ascii_target_is_sent_percent_encoded(client: OutboundClient) -> None:
    """A request line is ASCII (RFC 9112 §3): UTF-8 in a callback URL goes out escaped."""
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        writer.close()

    server, base = await scripted(script)
    async with server:
        await client.request("POST", f"{base}/cb/\u00e9t\u00e9?q=%7E\u00fc", data=b"x", timeout=2,
                             max_body=10)
    assert seen[0].split(b"\r\n")[0] == b"POST /cb/%C3%A9t%C3%A9?q=%7E%C3%BC HTTP/1.1"


async def test_connections_are_kept_alive_and_reused(client: OutboundClient) -> None:
    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/cb", handler)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        for _ in range(5):
            answer = await client.request("POST", str(server.make_url("/cb")), data=b"x",
                                          timeout=2, max_body=10, body_on_success=False)
            assert answer.status == 202
    finally:
        await server.close()
    assert len(peers) == 5 and len(set(peers)) == 1


async def test_a_connection_the_server_dropped_while_idle_is_replaced(
    client: OutboundClient,
) -> None:
    """Servers close idle keep-alive connections; the next request must not fail for it."""
    answered = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # says keep-alive...
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # ...then closes, as an idle timeout would

    server, base = await scripted(script)
    async with server:
        for _ in range(3):
            assert (await client.request("POST", f"{base}/", data=b"x", timeout=2,
                                         max_body=10)).status == 200
            await asyncio.sleep(0.2)
    assert answered == 3


async def test_silence_is_a_timeout(client: OutboundClient) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    server, base = await scripted(script)
    async with server:
        started = time.monotonic()
        with pytest.raises(OutboundError) as raised:
            await client.request("POST", f"{base}/", data=b"x", timeout=0.3, max_body=10)
        assert raised.value.kind == "timeout" and time.monotonic() - started < 2


async def test_an_ignored_body_is_never_waited_for(client: OutboundClient) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nslow")
        await writer.drain()
        await asyncio.sleep(5)

    server, base = await scripted(script)
    async with server:
        started = time.monotonic()
        answer = await client.request("POST", f"{base}/", data=b"x", timeout=3, max_body=10,
                                      body_on_success=False)
        assert answer.status == 200 and time.monotonic() - started < 1


async def test_refused_connection_is_a_connect_error(client: OutboundClient) -> None:
    with pytest.raises(OutboundError) as raised:
        await client.request("POST", f"http://127.0.0.1:{free_port()}/", data=b"x", timeout=2,
                             max_body=10)
    assert raised.value.kind == "connect"


async def test_a_black_holed_address_does_not_eat_the_timeout() -> None:
    """Code review issue 9: addresses are raced (happy eyeballs), not tried one after another
    under one timeout. The first address is a listener whose backlog is full, so the kernel drops
    the SYN and that connect hangs; the second answers."""
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(0)
    port = black_hole.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))  # fills the backlog of 0
    server = await asyncio.start_server(
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), "127.0.0.2", port
    )

    async def resolve(host: str, port: int) -> list[AddrInfo]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
            for address in ("127.0.0.1", "127.0.0.2")
        ]

    pool = ConnectionPool(resolve, user_agent="test", limit=4, limit_per_host=4)
    try:
        async with server:
            answer = await pool.request("POST", URL(f"http://rt-two-addresses.test:{port}/cb"),
                                        headers={}, body=b"x", timeout=2, max_body=10,
                                        body_on_success=True)
        assert (answer.status, answer.body) == (200, b"ok")
    finally:
        await pool.close()
        queued.close()
        black_hole.close()


async def test_requests_to_one_host_are_capped() -> None:
    active = peak = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)
        active -= 1
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/cb", handler)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with OutboundClient(OPEN, limit_per_host=2) as capped:
            answers = await asyncio.gather(*(
                capped.request("POST", str(server.make_url("/cb")), data=b"x", timeout=5,
                               max_body=10)
                for _ in range(6)
            ))
    finally:
        await server.close()
    assert [a.status for a in answers] == [200] * 6 and peak == 2


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"over {request.scheme}")

    app = web.Application()
    app.router.add_post("/cb", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context)
    await site.start()
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with OutboundClient(OPEN, ssl_context=trusting) as tls_client:
            for _ in range(2):  # the second one on the kept-alive TLS connection
                answer = await tls_client.request("POST", f"https://localhost:{port}/cb",
                                                  data=b"x", timeout=5, max_body=100)
                assert (answer.status, answer.body) == (200, b"over https")
        async with OutboundClient(OPEN) as default_client:  # system CAs: not trusted
            with pytest.raises(OutboundError) as raised:
                await default_client.request("POST", f"https://localhost:{port}/cb", data=b"x",
                                             timeout=5, max_body=100)
            assert raised.value.kind == "tls"
    finally:
        await runner.cleanup()
