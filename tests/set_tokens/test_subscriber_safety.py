"""WebSubSubscriber against unauthenticated verification requests and failed renewals (security
review L8, code review "Error handling that swallows"): a forged `hub.mode=denied` changes
nothing, every `hub.*` parameter is read once (a foreign subscription whose callback carries
`hub.mode=...&hub.topic=...` cannot answer for us), a renewal that fails is logged and retried
until the hub is back, and rejected SETs are reported to the application."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.app import create_app
from set_tokens import (
    InvalidAudience,
    SetError,
    SigningKey,
    StaticJwks,
    Verifier,
    WebSubSubscriber,
    issue,
)
from set_tokens.errors import Unavailable
from set_tokens.events import CAEP_BASE
from set_tokens.websub import TopicSubscription

from ..hub.support import free_port, start_hub, stop_hub, until

TOPIC, HUB = "http://127.0.0.1:1/topics/session", "http://127.0.0.1:1/hub"


@dataclass
class Timer:
    """The subscriber's sleep, driven by the test: each sleep lasts until the test wakes it."""

    delays: list[float] = field(default_factory=list)
    waiting: list[asyncio.Future[None]] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.delays.append(delay)
        self.waiting.append(wake)
        await wake

    def wake(self) -> None:
        self.waiting.pop(0).set_result(None)


@dataclass
class Callback:
    subscriber: WebSubSubscriber
    server: TestServer
    answers: list[int]

    @property
    def url(self) -> str:
        return self.subscriber.callback_url

    async def get(self, session: aiohttp.ClientSession, query: str) -> tuple[int, str]:
        async with session.get(f"{self.url}?{query}") as response:
            return response.status, await response.text()


async def start_callback(session: aiohttp.ClientSession, **options: object) -> Callback:
    """A WebSubSubscriber on a loopback port, counting the status of each verification answer."""
    port = free_port()
    subscriber = WebSubSubscriber(callback_url=f"http://127.0.0.1:{port}/cb", session=session,
                                  **options)  # type: ignore[arg-type]
    answers: list[int] = []

    async def verification(request: web.Request) -> web.Response:
        response = await subscriber.handle_verification(request)
        answers.append(response.status)
        return response

    app = web.Application()
    app.router.add_get("/cb", verification)
    app.router.add_post("/cb", subscriber.handle_delivery)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return Callback(subscriber, server, answers)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def pending(callback: Callback, topic: str = TOPIC) -> TopicSubscription:
    """A subscribe in flight: asked for, not verified yet."""
    subscription = TopicSubscription(topic=topic, hub=HUB, secret=b"s", pending_modes={"subscribe"})
    callback.subscriber.subscriptions[topic] = subscription
    return subscription


async def test_a_forged_denial_leaves_a_pending_subscription_alone(
    session: aiohttp.ClientSession,
) -> None:
    callback = await start_callback(session)
    try:
        subscription = pending(callback)
        status, _ = await callback.get(session, f"hub.mode=denied&hub.topic={quote(TOPIC)}")
        assert status == 200 and subscription.pending_modes == {"subscribe"}
        status, body = await callback.get(
            session, f"hub.mode=subscribe&hub.topic={quote(TOPIC)}&hub.challenge=c1")
        assert (status, body) == (200, "c1")  # the hub's real verification still succeeds
    finally:
        await callback.server.close()


async def test_a_lease_that_is_not_ascii_digits_is_ignored_not_a_500(
    session: aiohttp.ClientSession,
) -> None:
    callback = await start_callback(session)
    try:
        subscription = pending(callback)
        status, body = await callback.get(
            session, f"hub.mode=subscribe&hub.topic={quote(TOPIC)}&hub.challenge=c"
                     "&hub.lease_seconds=%C2%B2")  # '²'
        assert (status, body) == (200, "c") and subscription.granted_lease is None
    finally:
        await callback.subscriber.close()
        await callback.server.close()


@pytest.mark.parametrize("query", [
    "hub.mode=subscribe&hub.mode=subscribe&hub.topic={t}&hub.challenge=c",
    "hub.mode=subscribe&hub.topic={t}&hub.topic={t}&hub.challenge=c",
    "hub.mode=subscribe&hub.topic={t}&hub.challenge=a&hub.challenge=b",
    "hub.mode=subscribe&hub.topic={t}&hub.challenge=c&hub.lease_seconds=1&hub.lease_seconds=9",
])
async def test_a_parameter_given_twice_is_refused(
    session: aiohttp.ClientSession, query: str
) -> None:
    callback = await start_callback(session)
    try:
        subscription = pending(callback)
        status, text = await callback.get(session, query.format(t=quote(TOPIC)))
        assert status == 400 and "more than once" in text
        assert subscription.pending_modes == {"subscribe"}
    finally:
        await callback.server.close()


async def test_a_foreign_subscription_cannot_answer_for_ours(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """Someone subscribes our callback, with our topic in its query, to another topic: the hub
    appends its own hub.* parameters, and the subscriber must not read the first ones."""
    hub = await start_hub(tmp_path)
    callback = await start_callback(session)
    try:
        ours = hub.topic_url("session")
        subscription = pending(callback, ours)
        forged = f"{callback.url}?hub.mode=subscribe&hub.topic={quote(ours)}"
        status, text = await hub.subscribe(hub.topic_url("login"), forged)
        assert status == 202, text
        await until(lambda: callback.answers)
        assert callback.answers == [400]
        assert subscription.pending_modes == {"subscribe"}
        assert await hub.store.subscriptions.get(topic=hub.topic_url("login"),
                                                 callback=forged) is None
    finally:
        await callback.server.close()
        await stop_hub(hub)


async def test_a_failed_renewal_is_logged_and_retried_until_the_hub_is_back(
    tmp_path: Path, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await start_hub(tmp_path)
    timer = Timer()
    callback = await start_callback(session, sleep=timer, verify_timeout=5.0)
    subscriber = callback.subscriber
    try:
        topic = hub.topic_url("session")
        subscription = await subscriber.subscribe(
            topic, lease_seconds=60, headers={"Authorization": f"Bearer {hub.subscriber_token}"}
        )
        first = await hub.store.subscriptions.get(topic=topic, callback=callback.url)
        assert first is not None
        await until(lambda: timer.delays == [48.0])  # renew at 80% of the lease

        await hub.server.close()  # the hub is down when the renewal is due
        with caplog.at_level(logging.WARNING, logger="set_tokens.subscriber"):
            timer.wake()
            await until(lambda: timer.delays == [48.0, 5.0])
            timer.wake()
            await until(lambda: timer.delays == [48.0, 5.0, 10.0])
        assert subscription.renewal_failures == 2 and subscription.last_error
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2 and "failed (2 in a row)" in warnings[1]
        assert subscription.renewal is not None and not subscription.renewal.done()

        hub.server = TestServer(create_app(hub.settings), host="127.0.0.1",
                                port=hub.settings.port)
        await hub.server.start_server()  # back, on the same port and database
        timer.wake()
        await until(lambda: timer.delays == [48.0, 5.0, 10.0, 48.0])
        assert subscription.renewal_failures == 0
        renewed = await hub.store.subscriptions.get(topic=topic, callback=callback.url)
        assert renewed is not None and renewed.expires_at > first.expires_at
    finally:
        await subscriber.close()
        await callback.server.close()
        await stop_hub(hub)


async def test_headers_go_with_every_request_to_the_hub(session: aiohttp.ClientSession) -> None:
    """A subscriber token (`Authorization`) is sent on subscribe and on each renewal."""
    seen: list[str | None] = []
    timer = Timer()
    callback = await start_callback(session, sleep=timer)

    async def topic(request: web.Request) -> web.Response:
        return web.Response(headers={"Link": f'<{request.url.origin()}/hub>; rel="hub", '
                                             f'<{request.url}>; rel="self"'})

    async def hub_endpoint(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        form = await request.post()

        async def verify() -> None:
            params = {"hub.mode": "subscribe", "hub.topic": str(form["hub.topic"]),
                      "hub.challenge": "c", "hub.lease_seconds": "100"}
            async with session.get(callback.url, params=params) as answer:
                assert answer.status == 200

        asyncio.get_running_loop().create_task(verify())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_route("*", "/topic", topic)
    app.router.add_post("/hub", hub_endpoint)
    hub = TestServer(app, host="127.0.0.1", port=free_port())
    await hub.start_server()
    try:
        await callback.subscriber.subscribe(str(hub.make_url("/topic")),
                                            headers={"Authorization": "Bearer sub-token"})
        await until(lambda: timer.delays == [80.0])
        timer.wake()
        await until(lambda: timer.delays == [80.0, 80.0])
        assert seen == ["Bearer sub-token", "Bearer sub-token"]
    finally:
        await callback.subscriber.close()
        await callback.server.close()
        await hub.close()


async def test_rejected_sets_are_reported_to_the_application(
    session: aiohttp.ClientSession,
) -> None:
    key = SigningKey.generate("ES256")
    rejected: list[SetError | Unavailable] = []
    verifier = Verifier(issuer="https://hub", audience="https://rp", algorithms=["ES256"],
                        jwks=StaticJwks([key]))
    callback = await start_callback(session, verifier=verifier, on_rejection=rejected.append)
    try:
        pending(callback)
        body = issue(key=key, issuer="https://hub", audience="https://someone-else",
                     event_type=CAEP_BASE + "session-revoked", payload={},
                     subject={"format": "opaque", "id": "u1"}).encode()
        async with session.post(callback.url, data=body, headers={
                "Content-Type": "application/secevent+jwt",
                "Link": f'<{HUB}>; rel="hub", <{TOPIC}>; rel="self"',
                "X-Hub-Signature": "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest(),
        }) as response:
            assert response.status == 400
        assert len(rejected) == 1 and isinstance(rejected[0], InvalidAudience)
    finally:
        await callback.server.close()
