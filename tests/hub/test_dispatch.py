"""Delivery engine behaviour: outcomes, retries, dead letters, concurrency caps, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hub.store import DeliveryState
from set_tokens.websub import signature_valid

from ..store.raw import rows
from .support import RunningHub, Subscriber, until


async def _subscribed(hub: RunningHub, sub: Subscriber, topic: str = "news", **params: str) -> str:
    if await hub.store.topics.get(topic) is None:
        await hub.create_topic(topic, b"initial")
    url = hub.topic_url(topic)
    status, text = await hub.subscribe(url, sub.callback, **params)
    assert status == 202, text
    await until(lambda: hub.store.subscriptions.get(topic=url, callback=sub.callback))
    return url


async def _drained(hub: RunningHub) -> None:
    await until(lambda: _no_pending(hub))


async def _no_pending(hub: RunningHub) -> bool:
    return (await hub.store.deliveries.counts())["pending"] == 0


async def _attempts(hub: RunningHub) -> list[tuple[Any, ...]]:
    return await rows(
        hub.settings.db,
        "SELECT delivery_id, attempt, status, outcome FROM delivery_attempts ORDER BY id",
    )


async def test_failures_are_retried_until_delivered(
    make_hub_each: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub_each(retry_schedule=[0.05, 0.05, 0.05])
    sub = await make_subscriber(deliver_status=[500, 503, 202])
    await _subscribed(hub, sub)
    await hub.publish_content("news", b"payload")
    await until(lambda: len(sub.deliveries) == 3)
    await _drained(hub)
    assert {d.body for d in sub.deliveries} == {b"payload"}
    assert [(a[1], a[2], a[3]) for a in await _attempts(hub)] == [
        (1, 500, "failed"),
        (2, 503, "failed"),
        (3, 202, "delivered"),
    ]
    assert (await hub.store.deliveries.counts())["delivered"] == 1


async def test_budget_spent_dead_letters_and_keeps_the_subscription(
    make_hub_each: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub_each(retry_schedule=[0.05, 0.05])
    sub = await make_subscriber(deliver_status=500)
    topic = await _subscribed(hub, sub)
    await hub.publish_content("news", b"doomed")
    await until(lambda: len(sub.deliveries) == 3)
    await _drained(hub)
    assert (await hub.store.deliveries.counts())["dead"] == 1
    assert await hub.store.subscriptions.get(topic=topic, callback=sub.callback) is not None
    sub.deliver_status = 202
    await hub.publish_content("news", b"later")  # WebSub §7: later updates are still tried
    await until(lambda: any(d.body == b"later" for d in sub.deliveries))


async def test_410_gone_ends_the_subscription_and_cancels_its_queue(
    make_hub_each: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub_each(max_concurrent_per_subscription=1)
    sub = await make_subscriber(deliver_status=410, delay=0.3)
    topic = await _subscribed(hub, sub)
    await hub.publish_content("news", b"one")
    await hub.publish_content("news", b"two")
    await until(lambda: _gone(hub, topic, sub))
    await _drained(hub)
    counts = await hub.store.deliveries.counts()
    assert counts["cancelled"] == 2 and counts["delivered"] == 0
    assert len(sub.deliveries) == 1  # the second delivery was cancelled, not sent
    await hub.publish_content("news", b"three")
    assert (await hub.store.deliveries.counts())["pending"] == 0


async def _gone(hub: RunningHub, topic: str, sub: Subscriber) -> bool:
    return await hub.store.subscriptions.get(topic=topic, callback=sub.callback) is None


async def test_retry_after_is_honoured(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(retry_schedule=[0.05], retry_after_max=10)
    sub = await make_subscriber(deliver_status=[503, 202], deliver_headers={"Retry-After": "1"})
    await _subscribed(hub, sub)
    await hub.publish_content("news", b"x")
    await until(lambda: len(sub.deliveries) == 2, timeout=10)
    gap = sub.deliveries[1].at - sub.deliveries[0].at
    assert gap >= 0.95


async def test_retry_after_is_capped(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(retry_schedule=[0.05], retry_after_max=0.3)
    sub = await make_subscriber(deliver_status=[429, 202], deliver_headers={"Retry-After": "3600"})
    await _subscribed(hub, sub)
    started = time.time()
    await hub.publish_content("news", b"x")
    await until(lambda: len(sub.deliveries) == 2, timeout=5)
    assert sub.deliveries[1].at - started < 3


async def test_timeout_counts_as_failure_and_is_retried(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(delivery_timeout=0.2, retry_schedule=[0.05, 0.05])
    sub = await make_subscriber(delay=0.5)
    await _subscribed(hub, sub)
    await hub.publish_content("news", b"slow")
    await until(lambda: len(sub.deliveries) >= 2)
    await _drained(hub)
    outcomes = [a[3] for a in await _attempts(hub)]
    assert outcomes[0] == "unreachable"


async def test_per_subscription_cap_bounds_concurrency(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(max_concurrent_per_subscription=2)
    sub = await make_subscriber(delay=0.1)
    await _subscribed(hub, sub)
    for n in range(8):
        await hub.publish_content("news", f"e{n}".encode())
    await until(lambda: len(sub.deliveries) == 8)
    assert sub.max_active == 2


async def test_slow_subscriber_does_not_starve_others(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(max_concurrent_deliveries=4, max_concurrent_per_subscription=1)
    slow = await make_subscriber(delay=1.0)
    fast = await make_subscriber()
    await _subscribed(hub, slow)
    await _subscribed(hub, fast)
    started = time.time()
    for n in range(5):
        await hub.publish_content("news", f"e{n}".encode())
    await until(lambda: len(fast.deliveries) == 5, timeout=3)
    assert time.time() - started < 1.5
    assert len(slow.deliveries) <= 2


async def test_signature_algorithm_is_configurable(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(signature_algorithm="sha512")
    sub = await make_subscriber()
    await _subscribed(hub, sub, **{"hub.secret": "s3cret"})
    await hub.publish_content("news", b"signed")
    await until(lambda: sub.deliveries)
    header = sub.deliveries[0].headers["X-Hub-Signature"]
    assert header.startswith("sha512=")
    assert signature_valid(header, b"s3cret", b"signed")


async def test_metrics_count_outcomes_and_depth(hub: RunningHub, subscriber: Subscriber) -> None:
    await _subscribed(hub, subscriber)
    await hub.publish_content("news", b"m")
    await until(lambda: subscriber.deliveries)
    await _drained(hub)
    async with hub.session.get(f"{hub.settings.base_url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'sethub_delivery_attempts_total{outcome="delivered"} 1.0' in text
    assert 'sethub_deliveries{state="delivered"} 1.0' in text
    assert "sethub_subscriptions_active 1.0" in text
    assert "sethub_delivery_latency_seconds_count 1.0" in text
    assert 'sethub_http_requests_total{route="/hub",status="202"} 1.0' in text


async def test_expired_lease_gets_no_delivery_and_is_purged(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(lease_min=1)
    sub = await make_subscriber()
    topic = await _subscribed(hub, sub, **{"hub.lease_seconds": "1"})
    assert sub.verifications[-1]["hub.lease_seconds"] == "1"
    subscription = await hub.store.subscriptions.get(topic=topic, callback=sub.callback)
    assert subscription is not None
    await until(lambda: time.time() > subscription.expires_at + 0.05, timeout=3)
    event = await hub.create_topic("news", b"after expiry")
    assert event["subscriptions"] == 0
    assert await hub.store.subscriptions.purge_expired(now=time.time()) == 1
    assert sub.deliveries == []
    assert (await hub.store.deliveries.counts())[DeliveryState.PENDING] == 0


async def test_subscription_failing_too_long_is_disabled_until_resubscribed(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(retry_schedule=[5.0], disable_failing_after=0.3, sweep_interval=0.1)
    sub = await make_subscriber(deliver_status=500)
    topic = await _subscribed(hub, sub)
    await hub.publish_content("news", b"fails")
    await until(lambda: sub.deliveries)
    await until(lambda: _disabled(hub, topic, sub))
    counts = await hub.store.deliveries.counts()
    assert counts["cancelled"] == 1  # the queued retry will not be sent
    event = await hub.create_topic("news", b"while disabled")
    assert event["subscriptions"] == 0
    async with hub.session.get(f"{hub.settings.base_url}/metrics") as response:
        assert "sethub_subscriptions_disabled_total 1.0" in await response.text()
    sub.deliver_status = 202
    await hub.subscribe(topic, sub.callback)
    await until(lambda: _enabled(hub, topic, sub))
    await hub.publish_content("news", b"enabled again")
    await until(lambda: any(d.body == b"enabled again" for d in sub.deliveries))


async def _disabled(hub: RunningHub, topic: str, sub: Subscriber) -> bool:
    return not await hub.store.subscriptions.active(topic, now=time.time())


async def _enabled(hub: RunningHub, topic: str, sub: Subscriber) -> bool:
    return bool(await hub.store.subscriptions.active(topic, now=time.time()))


async def test_a_backlog_is_claimed_a_few_deliveries_at_a_time(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any], monkeypatch: Any
) -> None:
    """A subscription is topped up once half its claim window is spent, not after every
    delivery: each claim is a transaction and an index scan. (While it is busy, each publish
    still claims at once what is new, for the other subscriptions: that claim reads only the
    deliveries stored since the last one, not the due index.)"""
    hub = await make_hub(max_concurrent_per_subscription=2)
    sub = await make_subscriber(delay=0.05)
    await _subscribed(hub, sub)
    deliveries = hub.store.deliveries
    claim_sizes: list[int] = []  # of the claims that read the due index
    claimed_new = 0  # by claims of new work only
    real_claim = deliveries.claim_due

    async def counting_claim(**kwargs: Any) -> Any:
        nonlocal claimed_new
        claimed = await real_claim(**kwargs)
        if kwargs["newer_than"] is None:
            claim_sizes.append(len(claimed.deliveries))
        else:
            claimed_new += len(claimed.deliveries)
        return claimed

    monkeypatch.setattr(deliveries, "claim_due", counting_claim)
    for n in range(40):
        await hub.publish_content("news", f"e{n}".encode())
    await until(lambda: len(sub.deliveries) == 40, timeout=10)
    assert sub.max_active <= 2
    assert sum(claim_sizes) + claimed_new == 40
    # Before: a claim per finished delivery, most of them empty (79 claims in one run).
    assert len(claim_sizes) < 40, str(claim_sizes)


async def test_claiming_waits_while_outcomes_are_not_yet_written(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """A finished delivery frees its slot before its outcome is durable, but unwritten outcomes
    are bounded too: while the store holds them back, the hub stops claiming (a claim left
    waiting past its lease would be sent again). Once they are written, every delivery arrives
    exactly once."""
    import asyncio

    from hub.appkeys import DISPATCHER
    from hub.batching import Batcher

    hub = await make_hub(max_concurrent_deliveries=2, max_concurrent_per_subscription=2)
    sub = await make_subscriber()
    await _subscribed(hub, sub)
    dispatcher = hub.server.app[DISPATCHER]
    writes_open = asyncio.Event()
    real_record = hub.store.deliveries.record_many

    async def record_when_open(settlements: Any) -> None:
        await writes_open.wait()
        await real_record(settlements)

    dispatcher._writes = Batcher(record_when_open)  # the real store's writes, held back
    for n in range(40):
        await hub.publish_content("news", f"e{n}".encode())
    bound = 2 * dispatcher.capacity  # claimed tasks plus outcomes waiting to be written
    await until(lambda: len(sub.deliveries) >= dispatcher.capacity)
    await asyncio.sleep(0.5)
    assert dispatcher.capacity <= len(sub.deliveries) <= bound < 40
    writes_open.set()
    await until(lambda: len(sub.deliveries) == 40)
    await _drained(hub)
    assert sorted(d.body for d in sub.deliveries) == sorted(f"e{n}".encode() for n in range(40))
    assert (await hub.store.deliveries.counts())["delivered"] == 40
