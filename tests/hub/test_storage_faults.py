"""A full or locked database answers publishers 503 with Retry-After; nothing accepted is lost."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

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
    hub = await make_hub()
    await hub.create_topic("news")
    locker = sqlite3.connect(hub.settings.db, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"}
        async with hub.session.post(hub.topic_url("news"), data=b"x", headers=headers) as reply:
            assert reply.status == 503
            assert reply.headers["Content-Type"].startswith("text/plain")
    finally:
        locker.rollback()
        locker.close()
    async with hub.session.post(hub.topic_url("news"), data=b"y", headers=headers) as reply:
        assert reply.status == 202
