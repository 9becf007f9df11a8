"""Real parts for hub tests: a hub on a loopback port, subscriber and publisher servers, waiting."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.app import create_app
from hub.appkeys import STORE
from hub.config import Settings
from hub.database_url import DatabaseLocation, PostgresURL
from hub.intake.auth import create_token
from hub.intake.bridges.sources import new_source
from hub.store import Source, Store

# Every test hub on PostgreSQL gets a secret key: its signing keys are stored sealed with it.
SHARED_STORE_SECRET_KEY = base64.b64encode(os.urandom(32)).decode()


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server in another process (which binds
    it itself). A server in this process takes a socket bound now instead (`bound_socket`, or
    aiohttp's TestServer without a port): no other process can take the port in between."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket() -> socket.socket:
    """A socket bound now to a free loopback port, for a server in this process whose settings
    must name its port before it starts (the hub: its URLs and SETs' iss carry it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def until(
    condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait for `condition()` (sync or async) to be truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def test_settings(db: DatabaseLocation, port: int, **overrides: Any) -> Settings:
    """Fast settings for tests: loopback allowed, quick polls, a short retry schedule."""
    values: dict[str, Any] = {
        "db": db,
        "keys_dir": db.parent / "keys" if isinstance(db, Path) else None,
        "signing_workers": 1,
        "port": port,
        "allow_private_callbacks": True,
        "poll_interval": 0.05,
        "retry_schedule": [0.1, 0.2],
        "retry_jitter": 0.0,
        "delivery_timeout": 2.0,
        "verify_timeout": 2.0,
        "fetch_timeout": 2.0,
        "shutdown_timeout": 1.0,
        "lease_min": 1,
        "subscribe_rate": 0,  # tests burst subscriptions; test_limits turns the limits on
        "subscribe_rate_per_callback_host": 0,
    }
    if isinstance(db, PostgresURL):  # its signing keys are sealed in the database with it
        values["secret_key"] = SHARED_STORE_SECRET_KEY
    values.update(overrides)
    return Settings.model_validate(values)


@dataclass
class RunningHub:
    settings: Settings
    server: TestServer
    session: aiohttp.ClientSession
    token: str  # scope publish
    subscriber_token: str = ""  # scope subscribe, no audiences: sent with (un)subscribe requests

    @property
    def store(self) -> Store:
        return self.server.app[STORE]

    @property
    def url(self) -> str:
        return self.settings.hub_url

    def topic_url(self, name: str) -> str:
        return self.settings.topic_url(name)

    async def post_form(self, data: Any, **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.post(self.url, data=data, **kwargs) as response:
            return response.status, await response.text(), response

    async def create_topic(
        self, name: str, body: bytes = b"first", content_type: str = "text/plain"
    ) -> dict[str, Any]:
        async with self.session.post(
            self.topic_url(name),
            data=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        ) as response:
            assert response.status == 202, await response.text()
            return await response.json()

    publish_content = create_topic

    def _bearer(self, token: str | None) -> dict[str, str]:
        token = self.subscriber_token if token == "default" else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def subscribe(
        self, topic: str, callback: str, *, token: str | None = "default", **params: str
    ) -> tuple[int, str]:
        form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback, **params}
        status, text, _ = await self.post_form(form, headers=self._bearer(token))
        return status, text

    async def add_source(self, name: str, vendor: str, secret: str, **options: str) -> Source:
        """Register an inbound source, as `sethub sources add` does."""
        source = new_source(name, vendor, secret, options, now=time.time())
        await self.store.sources.add(source)
        return source

    async def ingest(
        self, name: str, body: bytes, headers: dict[str, str] | None = None, query: str = ""
    ) -> tuple[int, Any]:
        """POST a vendor's native webhook to /ingest/NAME; the answer's status and JSON."""
        url = f"{self.settings.base_url}/ingest/{name}{query}"
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        async with self.session.post(url, data=body, headers=all_headers) as response:
            return response.status, await response.json()

    async def unsubscribe(
        self, topic: str, callback: str, *, token: str | None = "default"
    ) -> tuple[int, str]:
        form = {"hub.mode": "unsubscribe", "hub.topic": topic, "hub.callback": callback}
        status, text, _ = await self.post_form(form, headers=self._bearer(token))
        return status, text

    async def ping(self, *topics: str, token: str | None = "default") -> tuple[int, str]:
        headers = {}
        if token == "default":
            token = self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        form = [("hub.mode", "publish"), *(("hub.url", t) for t in topics)]
        status, text, _ = await self.post_form(form, headers=headers)
        return status, text


async def start_hub(
    tmp_path: Path,
    *,
    db: DatabaseLocation | None = None,
    clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> RunningHub:
    """A hub on `db` (by default a SQLite file in `tmp_path`; or a PostgreSQL URL), telling the
    time by `clock`."""
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    overrides.setdefault("keys_dir", tmp_path / "keys")
    try:
        settings = test_settings(db or tmp_path / "hub.db", port, **overrides)
        server = TestServer(
            create_app(settings, clock=clock),
            host="127.0.0.1",
            port=port,
            socket_factory=lambda *_: sock,
        )
        await server.start_server()
    except BaseException:
        sock.close()
        raise
    store = server.app[STORE]
    token = await create_token(store, scope="publish", label="tests", now=time.time())
    subscriber = await create_token(store, scope="subscribe", label="tests", now=time.time())
    return RunningHub(settings, server, aiohttp.ClientSession(), token, subscriber)


async def stop_hub(hub: RunningHub) -> None:
    await hub.session.close()
    await hub.server.close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    url: str
    link: list[str]
    at: float


@dataclass
class Subscriber:
    """A real subscriber callback server. Behaviour is set per test through its attributes.

    verify: "echo" | "wrong" | "404" | "302" | "500" | "empty"
    deliver_status: the status answered to content deliveries (a list is consumed in order)
    """

    server: TestServer | None = None
    verify: str = "echo"
    deliver_status: int | list[int] = 202
    deliver_headers: dict[str, str] = field(default_factory=dict)
    deliver_body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering a delivery
    verify_delay: float = 0.0  # seconds to wait before answering a verification
    active: int = 0  # deliveries being answered right now
    max_active: int = 0
    verifications: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Received] = field(default_factory=list)
    path: str = "/callback"

    @property
    def callback(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(self.path))

    async def _get(self, request: web.Request) -> web.Response:
        self.verifications.append(dict(request.query))
        if self.verify_delay:
            await asyncio.sleep(self.verify_delay)
        challenge = request.query.get("hub.challenge", "")
        if self.verify == "echo":
            return web.Response(text=challenge, content_type="application/octet-stream")
        if self.verify == "wrong":
            return web.Response(text=challenge + "x")
        if self.verify == "empty":
            return web.Response(text="")
        if self.verify == "302":
            return web.Response(status=302, headers={"Location": "/elsewhere"}, text=challenge)
        return web.Response(status=int(self.verify), text=challenge)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries.append(
            Received(
                headers=dict(request.headers),
                body=body,
                url=str(request.url),
                link=request.headers.getall("Link", []),
                at=time.time(),
            )
        )
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        status = self.deliver_status
        if isinstance(status, list):
            status = status.pop(0) if len(status) > 1 else status[0]
        return web.Response(status=status, headers=self.deliver_headers, body=self.deliver_body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(self.path, self._get)
        app.router.add_post(self.path, self._post)
        return app

    def modes(self) -> list[str]:
        return [v.get("hub.mode", "") for v in self.verifications]


async def start_subscriber(**kwargs: Any) -> Subscriber:
    subscriber = Subscriber(**kwargs)
    subscriber.server = TestServer(subscriber.app(), host="127.0.0.1")  # binds a free port
    await subscriber.server.start_server()
    return subscriber


@dataclass
class TopicPublisher:
    """An external topic server: serves `content` with `content_type` and the discovery links."""

    hub_url: str
    content: bytes = b"external content"
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    server: TestServer | None = None
    fetches: int = 0

    def url(self, path: str = "/feed") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def _serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.Response(
            status=self.status,
            body=self.content,
            headers={
                "Content-Type": self.content_type,
                "Link": f'<{self.hub_url}>; rel="hub", <{request.url}>; rel="self"',
            },
        )


async def start_publisher(hub_url: str, **kwargs: Any) -> TopicPublisher:
    publisher = TopicPublisher(hub_url=hub_url, **kwargs)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", publisher._serve)
    publisher.server = TestServer(app, host="127.0.0.1")  # binds a free port
    await publisher.server.start_server()
    return publisher


@dataclass
class ScriptedSubscriber:
    """A callback server on raw sockets: verifications are answered properly, every delivery with
    the same raw bytes (`answer`, whatever they are) or never (`answer` None). For answers the
    aiohttp test server could not send: bytes that break HTTP, or silence."""

    answer: bytes | None
    delay: float = 0.0  # seconds before each delivery's answer
    posts: list[bytes] = field(default_factory=list)  # the bodies of the deliveries, in order
    server: asyncio.Server | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def callback(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/cb"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = 0
                for line in lines:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                method, target = lines[0].split()[:2]
                if method == b"GET":
                    challenge = parse_qs(urlsplit(target.decode()).query)["hub.challenge"][0]
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(challenge), challenge.encode())
                    )
                else:
                    self.posts.append(body)
                    if self.answer is None:
                        await asyncio.Event().wait()  # never answers; closed at the end
                    await asyncio.sleep(self.delay)
                    writer.write(self.answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()


async def start_scripted_subscriber(answer: bytes | None, delay: float = 0.0) -> ScriptedSubscriber:
    subscriber = ScriptedSubscriber(answer, delay)
    subscriber.server = await asyncio.start_server(subscriber._serve, "127.0.0.1", 0)
    return subscriber
