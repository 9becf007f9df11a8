"""A full or locked database answers publishers 503 with Retry-After; nothing accepted is lost."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from .support import until


async def test_full_database_answers_503_and_keeps_what_it_accepted(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(db_max_bytes=400_000, max_request_bytes=200_000)
    sub = await make_subscriber(deliver_status=503)  # keep everything queued
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, sub.callback)
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"}
    accepted: list[bytes] = []
    refused = None
    for n in range(100):
        body = f"{n:04d}".encode() + b"x" * 20_000
        async with hub.session.post(topic, data=body, headers=headers) as response:
            if response.status == 202:
                accepted.append(body)
                continue
            refused = response
            text = await response.text()
            break
    assert refused is not None, "the size cap was never reached"
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "5"
    assert "storage is unavailable" in text
    assert accepted
    sub.deliver_status = 202
    await until(lambda: {d.body for d in sub.deliveries} >= set(accepted), timeout=30)


async def test_locked_database_answers_503(make_hub: Callable[..., Any]) -> None:
    hub = await make_hub(db_busy_timeout=0.2)  # not the 5 s default: the test waits it out
    await hub.create_topic("news")
    locker = sqlite3.connect(hub.settings.db, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"}
    try:
        async with hub.session.post(hub.topic_url("news"), data=b"x", headers=headers) as reply:
            assert reply.status == 503
            assert reply.headers["Content-Type"].startswith("text/plain")
        locked = {"status": "unavailable", "reason": "database is locked"}
        assert await _health(hub) == (503, locked)
    finally:
        locker.rollback()
        locker.close()
    async with hub.session.post(hub.topic_url("news"), data=b"y", headers=headers) as reply:
        assert reply.status == 202
    assert await _health(hub) == (200, "ok")


async def test_a_full_database_shows_in_healthz_and_the_log_until_writes_succeed_again(
    make_hub: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    hub = await make_hub(db_max_bytes=300_000, max_request_bytes=200_000)
    await hub.create_topic("news")
    assert await _health(hub) == (200, "ok")
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"}
    caplog.set_level(logging.INFO, logger="sethub")
    for n in range(100):
        body = f"{n:04d}".encode() + b"x" * 20_000
        async with hub.session.post(hub.topic_url("news"), data=body, headers=headers) as reply:
            if reply.status != 202:
                break
    assert reply.status == 503, "the size cap was never reached"
    full = {"status": "unavailable", "reason": "database or disk is full"}
    assert await _health(hub) == (503, full)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("sethub")]
    assert "store unavailable on POST /topics/news: database or disk is full" in logged
    assert not [line for line in logged if "rollback" in line]

    # Writes that need no room (the dispatcher's polls) do not make the hub look healthy.
    await asyncio.sleep(3 * hub.settings.poll_interval)
    assert await _health(hub) == (503, full)

    # An operator makes room; the next publish is stored and health follows.
    with sqlite3.connect(hub.settings.db, timeout=5) as operator:
        operator.execute("DELETE FROM events")
    async with hub.session.post(hub.topic_url("news"), data=b"z", headers=headers) as reply:
        assert reply.status == 202
    assert await _health(hub) == (200, "ok")
    assert "database writes succeed again" in [r.getMessage() for r in caplog.records]


async def _health(hub: Any) -> tuple[int, Any]:
    """The status and, when healthy, only the word "ok" of the answer."""
    async with hub.session.get(f"{hub.settings.base_url}/healthz") as reply:
        answer = await reply.json()
        return reply.status, answer["status"] if reply.status == 200 else answer
