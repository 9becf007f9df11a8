"""`sethub serve` cuts off clients that send nothing or half a request head, serves everyone else
meanwhile (security review M4), and logs a client that hangs up mid-body in one line (L9).

A real `sethub serve` subprocess and real sockets on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from hub.cli.listener import bind, serve_on
from hub.intake.auth import create_token
from hub.store import open_store

from .process import HubProcess, start_hub_process
from .support import free_port, until

HEAD_TIMEOUT = 4.0  # --header-read-timeout: longer than opening 1,000 connections on a busy VM
KEEPALIVE = 5.0  # --keepalive-timeout
SLOW_CLIENTS = 1000
SHORT_DEADLINE = 0.3  # seconds, for the listener on its own
SLACK = 4.0  # seconds a loaded machine may add before a timer's close is seen
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nUser-Agent: slow"
EVENT = {
    "type": "USER_LOGIN_FAILURE",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password"},
}


def _allow_open_files(count: int) -> None:
    """Each side holds one descriptor per connection; the hub inherits this at its start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= count


async def _publisher_token(db: Path) -> str:
    """Minted in this process, as `sethub tokens create` would (without its start-up time)."""
    store = await open_store(db)
    try:
        return await create_token(store, scope="publish", label="tests", now=time.time())
    finally:
        await store.close()


class SlowClient:
    """A connection that sends nothing, or the start of a request head, and then waits."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, opened: float
    ) -> None:
        self.reader, self.writer = reader, writer
        self.opened = opened  # before connecting: the hub's timer starts later than this

    @classmethod
    async def open(cls, port: int, first: bytes) -> SlowClient:
        opened = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, opened)
        if first:
            writer.write(first)
            await writer.drain()
        return client

    async def seconds_until_closed(self) -> float:
        with contextlib.suppress(ConnectionResetError):
            await self.reader.read()  # until the hub closes: it sends nothing
        return time.monotonic() - self.opened

    def close(self) -> None:
        self.writer.close()


async def _kept_alive_then_half_head(port: int) -> float:
    """Seconds from a complete response to the hub closing the connection, which then sent half
    of its next request head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        await reader.readexactly(length)
        answered = time.monotonic()
        writer.write(HALF_HEAD)
        await writer.drain()
        await reader.read()
        return time.monotonic() - answered
    finally:
        writer.close()


async def test_slow_clients_are_cut_off_while_others_are_served(tmp_path: Path) -> None:
    _allow_open_files(2 * SLOW_CLIENTS + 500)  # this process's sockets, then the hub's
    db, port = tmp_path / "hub.db", free_port()
    hub = await start_hub_process(
        db, port, "--header-read-timeout", str(HEAD_TIMEOUT), "--keepalive-timeout", str(KEEPALIVE)
    )
    token = await _publisher_token(db)
    clients: list[SlowClient] = []
    try:
        kept_alive = asyncio.create_task(_kept_alive_then_half_head(port))
        for batch in range(0, SLOW_CLIENTS, 100):  # in batches: the listen backlog is 128
            clients += await asyncio.gather(
                *(SlowClient.open(port, HALF_HEAD if n % 2 else b"")
                  for n in range(batch, batch + 100))
            )
        waits = [asyncio.create_task(client.seconds_until_closed()) for client in clients]

        async with aiohttp.ClientSession() as session:  # another client, meanwhile
            async with session.get(f"{hub.base}/healthz") as reply:
                assert reply.status == 200
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{hub.base}/events", json=EVENT, headers=headers) as reply:
                assert reply.status == 202, await reply.text()
        cut_off = sum(wait.done() for wait in waits)
        assert not cut_off, f"{cut_off} slow clients closed before the others were served"

        closed_after = await asyncio.wait_for(asyncio.gather(*waits), HEAD_TIMEOUT + 2 * SLACK)
        assert min(closed_after) > HEAD_TIMEOUT - 0.05, "cut off before the timeout"
        assert max(closed_after) < HEAD_TIMEOUT + SLACK

        idle_after_response = await asyncio.wait_for(kept_alive, KEEPALIVE + 2 * SLACK)
        assert KEEPALIVE - 0.2 < idle_after_response < KEEPALIVE + SLACK

        async with aiohttp.ClientSession() as session, session.get(f"{hub.base}/healthz") as reply:
            assert reply.status == 200  # and the hub is still fine
    finally:
        for client in clients:
            client.close()
        assert hub.terminate() == 0


async def test_a_client_gone_mid_body_is_one_log_line(tmp_path: Path) -> None:
    hub: HubProcess = await start_hub_process(tmp_path / "hub.db", free_port())
    try:
        for _ in range(3):
            _, writer = await asyncio.open_connection("127.0.0.1", hub.port)
            writer.write(
                b"POST /hub HTTP/1.1\r\nHost: hub\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
                b"hub.mode=subscribe&hub.topic="
            )
            await writer.drain()
            await asyncio.sleep(0.1)  # the handler is reading the body now
            writer.close()
            await writer.wait_closed()
        gone = "client went away during POST /hub"
        await until(lambda: hub.output().count(gone) == 3)
        async with aiohttp.ClientSession() as session, session.get(f"{hub.base}/healthz") as reply:
            assert await reply.json() == {"status": "ok"}  # the hub serves on
    finally:
        assert hub.terminate() == 0
    log = hub.output()
    assert "Traceback" not in log
    assert " ERROR " not in log, log
    assert log.count(f"INFO sethub.http: {gone}") == 3


async def _listening(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[
    web.AppRunner, asyncio.Server, int
]:
    """A real aiohttp server behind the hub's listener, with a short head deadline."""
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    (server,) = await serve_on(runner, bind("127.0.0.1", 0), header_read_timeout=SHORT_DEADLINE)
    return runner, server, server.sockets[0].getsockname()[1]


async def test_a_head_that_ends_across_two_reads_is_served_past_the_deadline() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2 * SHORT_DEADLINE)  # the head is in: the deadline no longer applies
        return web.Response(text="done")

    runner, server, port = await _listening(slow)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r")
        await writer.drain()
        await asyncio.sleep(SHORT_DEADLINE / 3)
        writer.write(b"\n")
        answer = await asyncio.wait_for(reader.read(), 10 * SHORT_DEADLINE)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"done"), answer
    finally:
        server.close()
        await runner.cleanup()


async def test_empty_lines_alone_are_not_a_request_head() -> None:
    async def never(request: web.Request) -> web.Response:
        raise AssertionError("no request was sent")

    runner, server, port = await _listening(never)
    try:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\r\n\r\n\n\n")
        assert await asyncio.wait_for(reader.read(), 10 * SHORT_DEADLINE) == b""
        assert time.monotonic() - started >= SHORT_DEADLINE - 0.05
        writer.close()
    finally:
        server.close()
        await runner.cleanup()


BODY_TIMEOUT = 0.5  # --body-read-timeout


async def _half_body(port: int, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send a request head and part of its body, then wait: what the hub answers before it
    closes the connection, and after how many seconds (from the last byte sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        sent = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), BODY_TIMEOUT + 2 * SLACK)
        return answer, time.monotonic() - sent
    finally:
        writer.close()


async def test_a_body_that_stops_halfway_is_answered_408_and_its_connection_closed(
    tmp_path: Path,
) -> None:
    db, port = tmp_path / "hub.db", free_port()
    hub = await start_hub_process(db, port, "--body-read-timeout", str(BODY_TIMEOUT))
    token = await _publisher_token(db)
    form = b"Content-Type: application/x-www-form-urlencoded\r\n"
    json_type = b"Content-Type: application/json\r\nAuthorization: Bearer " + token.encode()
    gzipped = gzip.compress(json.dumps(EVENT).encode())
    stalled = {  # what each sends: the head says 1,000 bytes of body, ten come
        "/hub": (b"POST /hub HTTP/1.1\r\nHost: hub\r\n" + form, b"hub.mode=s", "text/plain"),
        "/events": (b"POST /events HTTP/1.1\r\nHost: hub\r\n" + json_type + b"\r\n",
                    b'{"type": "', "application/json"),
        "/ingest/idp": (b"POST /ingest/idp HTTP/1.1\r\nHost: hub\r\n"
                        b"Content-Type: application/json\r\n", b'{"event":1', "application/json"),
        "/topics/news": (b"POST /topics/news HTTP/1.1\r\nHost: hub\r\n" + json_type + b"\r\n",
                         b"0123456789", "text/plain"),
    }
    try:
        answers = await asyncio.gather(*(
            _half_body(port, head + b"Content-Length: 1000\r\n\r\n", body)
            for head, body, _ in stalled.values()
        ))
        # All the body is sent, as gzip, but cut short: aiohttp waits for the rest of the stream.
        truncated = gzipped[: len(gzipped) // 2]
        answers.append(await _half_body(port, (
            b"POST /events HTTP/1.1\r\nHost: hub\r\n" + json_type + b"\r\nContent-Encoding: gzip"
            b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        ), b"%x\r\n%s\r\n" % (len(truncated), truncated)))
        for (path, (_, _, content_type)), (answer, seconds) in zip(
            [*stalled.items(), ("/events gzip", (b"", b"", "application/json"))], answers,
            strict=True,
        ):
            head, _, text = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 "), (path, answer)
            assert b"\r\nConnection: close" in head, (path, head)
            assert f"Content-Type: {content_type}".encode() in head, (path, head)
            assert b"did not arrive within 0.5s" in text, (path, text)
            assert BODY_TIMEOUT - 0.05 < seconds < BODY_TIMEOUT + SLACK, (path, seconds)
        async with aiohttp.ClientSession() as session, session.get(f"{hub.base}/healthz") as reply:
            assert reply.status == 200  # and the hub serves on
    finally:
        assert hub.terminate() == 0
    log = hub.output()
    assert "Traceback" not in log and " ERROR " not in log, log
