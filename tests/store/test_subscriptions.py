"""Subscriptions on both backends: made, replaced, counted, ended, disabled, expired."""

from __future__ import annotations

from hub.database_url import DatabaseLocation
from hub.store import Attempt, DeliveryState, NewEvent, Settlement, Store

from .raw import rows

TOPIC = "https://hub.example/topics/news"
OTHER = "https://hub.example/topics/other"


async def test_activate_creates_then_replaces_keeping_the_id(store: Store) -> None:
    made = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=b"s1", lease_seconds=60, now=100.0,
        audience="https://aud", event_types=("urn:a", "urn:b"), token_id=7,
    )
    assert (made.secret, made.expires_at, made.event_types, made.token_id) == (
        b"s1", 160.0, ("urn:a", "urn:b"), 7
    )
    again = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=90, now=200.0,
    )
    assert again.id == made.id
    assert (again.secret, again.expires_at, again.audience, again.event_types) == (
        None, 290.0, None, None
    )
    assert again.created_at == 100.0
    assert await store.subscriptions.get(topic=TOPIC, callback="https://a.example/cb") == again
    assert await store.subscriptions.get(topic=OTHER, callback="https://a.example/cb") is None


async def test_counts_by_topic_and_host_and_the_active_ones(store: Store) -> None:
    for n, (topic, host) in enumerate(
        [(TOPIC, "a.example"), (TOPIC, "b.example"), (OTHER, "a.example")]
    ):
        await store.subscriptions.activate(
            topic=topic, callback=f"https://{host}/cb{n}", secret=None, lease_seconds=60, now=0.0
        )
    await store.subscriptions.activate(
        topic=TOPIC, callback="https://c.example/cb", secret=None, lease_seconds=60, now=0.0,
        host_key="a.example",  # the per-host key the caller resolved
    )
    assert await store.subscriptions.count_for(now=10.0, topic=TOPIC) == 3
    assert await store.subscriptions.count_for(now=10.0, host="a.example") == 3
    assert await store.subscriptions.count_for(now=100.0, topic=TOPIC) == 0  # leases are over
    assert await store.subscriptions.count_active(now=10.0) == 4
    active = await store.subscriptions.active(TOPIC, now=10.0)
    assert [s.callback for s in active] == [
        "https://a.example/cb0", "https://b.example/cb1", "https://c.example/cb"
    ]


async def test_ending_keeps_the_row_cancels_the_queue_and_a_new_subscription_gets_a_new_id(
    store: Store, database: DatabaseLocation
) -> None:
    sub = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=b"s", lease_seconds=60, now=0.0
    )
    await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x")], now=1.0
    )
    assert await store.subscriptions.remove(topic=TOPIC, callback="https://a.example/cb", now=2.0)
    assert not await store.subscriptions.remove(
        topic=TOPIC, callback="https://a.example/cb", now=3.0
    )
    assert await store.subscriptions.get(topic=TOPIC, callback="https://a.example/cb") is None
    assert await rows(database, "SELECT id, ended_at, secret FROM subscriptions") == [
        (sub.id, 2.0, None)  # kept while a delivery names it, without its secret
    ]
    assert await rows(database, "SELECT state, updated_at FROM deliveries") == [("cancelled", 2.0)]
    new = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=60, now=4.0
    )
    assert new.id > sub.id
    assert await store.subscriptions.remove_by_id(new.id, now=5.0)
    assert not await store.subscriptions.remove_by_id(new.id, now=6.0)


async def test_failing_subscriptions_are_disabled_and_resubscribing_enables_them(
    store: Store, database: DatabaseLocation
) -> None:
    failing = await store.subscriptions.activate(
        topic=TOPIC, callback="https://down.example/cb", secret=None, lease_seconds=600, now=0.0
    )
    await store.subscriptions.activate(
        topic=TOPIC, callback="https://up.example/cb", secret=None, lease_seconds=600, now=0.0
    )
    await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x")], now=1.0
    )
    # failing since t=5: as the settlement of a failed attempt records it
    claimed = await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=60, limit=10, per_subscription=10
    )
    down = next(d for d in claimed.deliveries if d.subscription_id == failing.id)
    await store.deliveries.record_many([Settlement(
        down.id, failing.id, Attempt(started_at=5.0, duration=0.1, outcome="failed", status=500),
        DeliveryState.PENDING, next_attempt_at=50.0, lease=down.lease,
    )])
    assert await store.subscriptions.disable_failing(failing_before=4.0, now=10.0) == []
    disabled = await store.subscriptions.disable_failing(failing_before=6.0, now=10.0)
    assert [s.id for s in disabled] == [failing.id]
    assert [s.callback for s in await store.subscriptions.active(TOPIC, now=11.0)] == [
        "https://up.example/cb"
    ]
    assert ("cancelled",) in await rows(
        database, "SELECT state FROM deliveries WHERE subscription_id = ?", failing.id
    )
    again = await store.subscriptions.activate(
        topic=TOPIC, callback="https://down.example/cb", secret=None, lease_seconds=600, now=12.0
    )
    assert again.id == failing.id
    assert len(await store.subscriptions.active(TOPIC, now=13.0)) == 2


async def test_expired_leases_are_ended(store: Store) -> None:
    await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=10, now=0.0
    )
    await store.subscriptions.activate(
        topic=TOPIC, callback="https://b.example/cb", secret=None, lease_seconds=100, now=0.0
    )
    assert await store.subscriptions.purge_expired(now=50.0) == 1
    assert await store.subscriptions.purge_expired(now=50.0) == 0
    assert [s.callback for s in await store.subscriptions.active(TOPIC, now=50.0)] == [
        "https://b.example/cb"
    ]
