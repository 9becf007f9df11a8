"""Misbehaving subscribers, each handled as specified: retried, not followed, not read forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from .process import query
from .support import RunningHub, free_port, until


@dataclass
class Faulty:
    """A callback server whose delivery answers misbehave in one chosen way, then recover."""

    fault: str
    failures: int = 1  # how many deliveries get the fault before answering 204
    posts: int = 0
    redirected_hits: int = 0
    server: TestServer | None = None
    bodies: list[bytes] = field(default_factory=list)

    @property
    def callback(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/cb"))

    async def verify(self, request: web.Request) -> web.Response:
        return web.Response(text=request.query["hub.challenge"])

    async def deliver(self, request: web.Request) -> web.StreamResponse:
        self.posts += 1
        self.bodies.append(await request.read())
        if self.posts > self.failures:
            return web.Response(status=204)
        if self.fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            await asyncio.sleep(1)
            return web.Response(status=204)
        if self.fault == "slow-headers":
            assert request.transport is not None
            for byte in b"HTTP/1.1 200 OK\r\nContent-Le":
                request.transport.write(bytes([byte]))
                await asyncio.sleep(0.1)
            await asyncio.sleep(10)
            return web.Response(status=204)
        if self.fault == "trickle":
            response = web.StreamResponse(status=200)
            response.content_length = 1000
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x")
                await asyncio.sleep(0.1)
            return response
        if self.fault == "huge":
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            chunk = b"y" * 65536
            for _ in range(800):  # 50 MiB if anyone read it all
                await response.write(chunk)
            return response
        if self.fault == "redirect":
            return web.Response(status=307, headers={"Location": "/elsewhere"})
        raise AssertionError(self.fault)

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.redirected_hits += 1
        return web.Response(status=204)


@pytest.fixture
async def faulty() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(fault: str, **kwargs: Any) -> Faulty:
        callback = Faulty(fault, **kwargs)
        app = web.Application()
        app.router.add_get("/cb", callback.verify)
        app.router.add_post("/cb", callback.deliver)
        app.router.add_route("*", "/elsewhere", callback.elsewhere)
        callback.server = TestServer(app, host="127.0.0.1", port=free_port())
        await callback.server.start_server()
        servers.append(callback.server)
        return callback

    yield start
    for server in servers:
        await server.close()


async def _deliver_one(hub: RunningHub, callback: Faulty) -> None:
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, callback.callback)
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=callback.callback))
    await hub.publish_content("news", b"event")
    await until(lambda: _delivered(hub))


async def _delivered(hub: RunningHub) -> bool:
    return (await hub.store.deliveries.counts())["delivered"] == 1


def _outcomes(hub: RunningHub) -> list[str]:
    return [
        row[0]
        for row in query(hub.settings.db, "SELECT outcome FROM delivery_attempts ORDER BY id")
    ]


async def test_connection_reset_is_retried(make_hub: Any, faulty: Any) -> None:
    hub = await make_hub(retry_schedule=[0.1])
    callback = await faulty("reset")
    await _deliver_one(hub, callback)
    assert _outcomes(hub) == ["unreachable", "delivered"]


async def test_trickled_status_line_times_out_and_is_retried(make_hub: Any, faulty: Any) -> None:
    hub = await make_hub(retry_schedule=[0.1], delivery_timeout=0.5)
    callback = await faulty("slow-headers")
    await _deliver_one(hub, callback)
    assert _outcomes(hub) == ["unreachable", "delivered"]
    error = query(hub.settings.db, "SELECT error FROM delivery_attempts ORDER BY id")[0][0]
    assert error.startswith("timeout")


async def test_trickled_2xx_body_is_success_without_waiting(make_hub: Any, faulty: Any) -> None:
    """§7: a 2xx is success and its body is ignored, so the hub does not wait for it."""
    hub = await make_hub(delivery_timeout=0.5)
    callback = await faulty("trickle")
    await _deliver_one(hub, callback)
    assert _outcomes(hub) == ["delivered"]


async def test_huge_response_body_is_not_read(make_hub: Any, faulty: Any) -> None:
    hub = await make_hub()
    callback = await faulty("huge")
    await _deliver_one(hub, callback)
    assert _outcomes(hub) == ["delivered"]  # 2xx is success; the body is ignored (§7)


async def test_redirect_is_a_failure_and_not_followed(make_hub: Any, faulty: Any) -> None:
    hub = await make_hub(retry_schedule=[0.1])
    callback = await faulty("redirect")
    await _deliver_one(hub, callback)
    assert _outcomes(hub) == ["failed", "delivered"]
    assert callback.redirected_hits == 0
    assert callback.bodies == [b"event", b"event"]  # the retry resends the same body
