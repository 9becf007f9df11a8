"""Pending subscription requests: never overwritten by someone else's (security review M2), one
verification at a time per (topic, callback) in arrival order, and callbacks that never answer
cannot starve other hosts' verifications (M3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from set_tokens import WebSubSubscriber

from .support import RunningHub, free_port, until


async def _settled(hub: RunningHub) -> bool:
    return await hub.store.intents.count() == 0


@pytest.mark.parametrize("attack", ["subscribe", "unsubscribe"])
async def test_a_pending_request_is_not_replaced_by_another_for_the_same_callback(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any], attack: str
) -> None:
    """The victim's subscriber echoes one verification per request it made (as
    WebSubSubscriber does). While its request waits (the hub's one verification slot is busy),
    an attacker asks for the same callback with its own secret, or to unsubscribe it: the
    victim's request is still the one its echo confirms."""
    hub = await make_hub(max_concurrent_verifications=1)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    blocker = await make_subscriber(verify_delay=0.5)
    assert (await hub.subscribe(topic, blocker.callback))[0] == 202
    await until(lambda: blocker.verifications)  # the only slot is taken for 0.5 s

    port = free_port()
    app = web.Application()
    async with aiohttp.ClientSession() as session:
        victim = WebSubSubscriber(callback_url=f"http://127.0.0.1:{port}/cb", session=session)
        victim.attach(app, "/cb")
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            asking = asyncio.create_task(victim.subscribe(topic, secret=b"victim-secret"))
            await until(lambda: _count_is(hub, 2))  # the blocker's and the victim's
            form = {"hub.mode": attack, "hub.topic": topic, "hub.callback": victim.callback_url}
            if attack == "subscribe":
                form["hub.secret"] = "attacker-known"
            assert (await hub.post_form(form))[0] == 202
            await asking
            await until(lambda: _settled(hub))
            stored = await hub.store.subscriptions.get(topic=topic, callback=victim.callback_url)
            assert stored is not None and stored.secret == b"victim-secret"
        finally:
            await victim.close()
            await server.close()


async def _count_is(hub: RunningHub, count: int) -> bool:
    return await hub.store.intents.count() == count


async def test_one_verification_at_a_time_per_pair_in_arrival_order(
    hub: RunningHub,
) -> None:
    """Three quick requests for one (topic, callback): three verifications, never two at once,
    each with its own challenge, and the last request's secret is the one that stays."""
    seen: list[str] = []
    active = max_active = 0

    async def verify(request: web.Request) -> web.Response:
        nonlocal active, max_active
        active += 1
        max_active = max(max_active, active)
        seen.append(request.query["hub.challenge"])
        await asyncio.sleep(0.2)
        active -= 1
        return web.Response(text=request.query["hub.challenge"])

    app = web.Application()
    app.router.add_get("/cb", verify)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        await hub.create_topic("news")
        topic, callback = hub.topic_url("news"), str(server.make_url("/cb"))
        for secret in ("s1", "s2", "s3"):
            assert (await hub.subscribe(topic, callback, **{"hub.secret": secret}))[0] == 202
        await until(lambda: _settled(hub))
        assert len(seen) == 3 and len(set(seen)) == 3
        assert max_active == 1
        stored = await hub.store.subscriptions.get(topic=topic, callback=callback)
        assert stored is not None and stored.secret == b"s3"
    finally:
        await server.close()


@pytest.fixture
async def never_answering() -> AsyncIterator[str]:
    """A TCP server on 127.0.0.3 that accepts connections and never answers: callbacks there
    hold a verification until the verify timeout."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(hold, "127.0.0.3", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.3:{port}"
    server.close()
    for writer in held:
        writer.close()
    await server.wait_closed()


async def test_callbacks_that_never_answer_do_not_delay_another_host(
    hub: RunningHub, make_subscriber: Callable[..., Any], never_answering: str
) -> None:
    """100 pending verifications to a host that never answers (2 s verify timeout here, 16
    slots): a healthy callback on another host is still verified within a second."""
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    for n in range(100):
        assert (await hub.subscribe(topic, f"{never_answering}/cb/{n}"))[0] == 202
    healthy = await make_subscriber()
    asked = time.monotonic()
    assert (await hub.subscribe(topic, healthy.callback))[0] == 202
    await until(lambda: healthy.verifications, timeout=30)
    delay = time.monotonic() - asked
    assert delay < 1.0, f"the healthy verification waited {delay:.2f}s"
