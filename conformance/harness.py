"""The suite's own loopback servers: topics it publishes and callbacks it subscribes with."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Callback", "Delivery", "Harness", "Topic"]


@dataclass
class Delivery:
    headers: dict[str, str]
    links: list[str]
    body: bytes
    query: str
    at: float


@dataclass
class Topic:
    """A topic the suite publishes: its content, Content-Type and discovery links."""

    path: str
    url: str
    content: bytes
    content_type: str
    fetches: int = 0


@dataclass
class Callback:
    """One subscriber callback. `verify` decides the answer to verification GETs:
    "echo" (correct), "wrong", "404", "302", "500". `status` answers deliveries."""

    path: str
    url: str
    verify: str = "echo"
    status: int = 202
    statuses: list[int] = field(default_factory=list)  # answered first, in order, then `status`
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    verifications: list[dict[str, str]] = field(default_factory=list)
    verification_urls: list[str] = field(default_factory=list)
    denials: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def modes(self) -> list[str]:
        return [v.get("hub.mode", "") for v in self.verifications]


class Harness:
    """One aiohttp server on 127.0.0.1 serving every topic and callback of a run."""

    def __init__(self, hub_url: str) -> None:
        self.hub_url = hub_url
        self._counter = itertools.count(1)
        self._topics: dict[str, Topic] = {}
        self._callbacks: dict[str, Callback] = {}
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("GET", "/topic/{name}", self._topic)
        app.router.add_route("HEAD", "/topic/{name}", self._topic)
        app.router.add_get("/cb/{name}", self._verify)
        app.router.add_post("/cb/{name}", self._deliver)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        bound_port = server.sockets[0].getsockname()[1]
        self.base = f"http://{host}:{bound_port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def topic(self, content: bytes = b"", content_type: str = "text/plain; charset=utf-8") -> Topic:
        name = f"t{next(self._counter)}"
        topic = Topic(
            path=name,
            url=f"{self.base}/topic/{name}",
            content=content or f"content of {name} at {time.time():.3f}".encode(),
            content_type=content_type,
        )
        self._topics[name] = topic
        return topic

    def callback(self, *, query: str = "", **options: Any) -> Callback:
        name = f"c{next(self._counter)}"
        url = f"{self.base}/cb/{name}" + (f"?{query}" if query else "")
        callback = Callback(path=name, url=url, **options)
        self._callbacks[name] = callback
        return callback

    async def _topic(self, request: web.Request) -> web.Response:
        topic = self._topics.get(request.match_info["name"])
        if topic is None:
            return web.Response(status=404)
        topic.fetches += 1
        return web.Response(
            body=topic.content,
            headers={
                "Content-Type": topic.content_type,
                "Link": f'<{self.hub_url}>; rel="hub", <{topic.url}>; rel="self"',
            },
        )

    async def _verify(self, request: web.Request) -> web.Response:
        callback = self._callbacks.get(request.match_info["name"])
        if callback is None:
            return web.Response(status=404)
        query = dict(request.query)
        if query.get("hub.mode") == "denied":
            callback.denials.append(query)
            return web.Response(text="")
        callback.verifications.append(query)
        callback.verification_urls.append(str(request.rel_url))
        challenge = query.get("hub.challenge", "")
        if callback.verify == "echo":
            return web.Response(text=challenge, content_type="application/octet-stream")
        if callback.verify == "wrong":
            return web.Response(text=challenge[::-1] + "x")
        if callback.verify == "302":
            return web.Response(status=302, headers={"Location": callback.url}, text=challenge)
        return web.Response(status=int(callback.verify), text=challenge)

    async def _deliver(self, request: web.Request) -> web.Response:
        callback = self._callbacks.get(request.match_info["name"])
        if callback is None:
            return web.Response(status=404)
        callback.deliveries.append(
            Delivery(
                headers=dict(request.headers),
                links=request.headers.getall("Link", []),
                body=await request.read(),
                query=request.query_string,
                at=time.time(),
            )
        )
        status = callback.statuses.pop(0) if callback.statuses else callback.status
        return web.Response(
            status=status, body=callback.response_body, headers=callback.response_headers
        )


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]], *, timeout: float, interval: float = 0.05
) -> bool:
    """True once `condition()` holds, False if it never did within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
