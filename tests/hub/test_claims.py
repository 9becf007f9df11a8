"""Claims are leases: a delivery is never POSTed twice while its attempt is in flight, a
settlement lands only for the claim that made it, and one slow subscriber does not hold back the
others (code review 5 and 7)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .process import query
from .support import RunningHub, until

TOPIC = "https://hub.example/topics/news"


async def _subscribe(hub: RunningHub, callback: str, topic: str = "news") -> None:
    if await hub.store.topics.get(topic) is None:
        await hub.create_topic(topic, b"initial")
    url = hub.topic_url(topic)
    status, text = await hub.subscribe(url, callback)
    assert status == 202, text
    await until(lambda: hub.store.subscriptions.get(topic=url, callback=callback))


async def test_no_delivery_is_posted_twice_at_the_edge_of_the_accepted_claim_ttl(
    make_hub: Callable[..., Any], make_scripted: Callable[..., Any]
) -> None:
    """repro/claim_ttl.py: a subscriber that never answers, no retries, and the shortest
    claim_ttl the settings accept. Claimed ahead, the last of a subscription's window waits
    three attempts before its own; before, its claim expired meanwhile, it was claimed again and
    sent twice (24 events, 25 POSTs)."""
    hub = await make_hub(delivery_timeout=0.2, verify_timeout=0.2, claim_ttl=0.61,
                         retry_schedule=[], shutdown_timeout=0.1)
    silent = await make_scripted(None)
    await _subscribe(hub, silent.callback)
    for n in range(24):
        await hub.publish_content("news", f"event {n}".encode())
    sql = "SELECT COUNT(*) FROM deliveries WHERE state = 'dead'"
    await until(lambda: query(hub.settings.db, sql) == [(24,)], timeout=10)
    posts = Counter(silent.posts)
    assert len(posts) == 24 and set(posts.values()) == {1}, posts
    assert query(hub.settings.db, "SELECT COUNT(*) FROM delivery_attempts") == [(24,)]


async def test_a_slow_subscriber_does_not_delay_a_healthy_ones_deliveries(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any],
    make_scripted: Callable[..., Any],
) -> None:
    """repro/saturated.py: one subscriber answers after 5 s and has a backlog; after a quiet
    spell longer than the poll interval, a healthy subscriber's publish-to-delivery p99 stays
    under 100 ms at 20 events/s. Before, once a claim found nothing beyond the slow
    subscription's backlog, new events waited for the next poll (1 s by default): p99 ~900 ms.

    The machine is shared, and with 40 events the p99 is the second worst: a window that other
    processes disturbed is measured once more (the old behaviour fails every window)."""
    hub = await make_hub(poll_interval=1.0, delivery_timeout=10.0, claim_ttl=60.0,
                         retry_schedule=[600.0], shutdown_timeout=0.1)
    slow = await make_scripted(b"HTTP/1.1 204 No Content\r\n\r\n", delay=5.0)
    healthy = await make_subscriber()
    await _subscribe(hub, slow.callback)
    await _subscribe(hub, healthy.callback)
    for n in range(10):  # the slow subscription's backlog
        await hub.publish_content("news", f"backlog {n}".encode())
    await until(lambda: len(healthy.deliveries) == 10)
    windows = []
    for window in range(2):
        windows.append(await _healthy_p99(hub, healthy, window))
        if windows[-1] < 0.1:
            break
    assert windows[-1] < 0.1, [round(p99 * 1000) for p99 in windows]


async def _healthy_p99(hub: RunningHub, healthy: Any, window: int) -> float:
    """A quiet spell past the poll interval (the next poll finds nothing new), then 2 s at
    20 events/s; the p99 of the healthy subscriber's publish-to-delivery latency."""
    await asyncio.sleep(1.2)
    before = len(healthy.deliveries)
    published: dict[bytes, float] = {}
    for n in range(40):
        body = f"w{window}e{n}".encode()
        published[body] = time.time()
        await hub.publish_content("news", body)
        await asyncio.sleep(0.05)
    await until(lambda: len(healthy.deliveries) == before + len(published), timeout=5)
    latencies = sorted(d.at - published[d.body] for d in healthy.deliveries[before:])
    return latencies[int(0.99 * (len(latencies) - 1))]
