"""Leases fence their writes: a settlement lands only under the claim that made it, on both
backends (a claim of an expired lease by another node, a cancelled delivery)."""

from __future__ import annotations

import time
from typing import Any

from hub.database_url import DatabaseLocation
from hub.store import Attempt, DeliveryState, NewEvent, Settlement, Store

from .raw import rows

TOPIC = "https://hub.example/topics/news"


async def test_a_settlement_lands_only_for_the_claim_that_made_it(
    store: Store, database: DatabaseLocation
) -> None:
    """Fencing: once a claim has expired and the delivery was claimed again, the first
    claimant's late outcome changes nothing; nor does any outcome for a cancelled delivery."""
    now = time.time()
    subscription = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=600, now=now
    )
    await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x")], now=now
    )
    (first,) = (await store.deliveries.claim_due(
        owner="one", now=now, ttl=5, limit=10, per_subscription=10
    )).deliveries
    (second,) = (await store.deliveries.claim_due(
        owner="two", now=now + 6, ttl=5, limit=10, per_subscription=10
    )).deliveries
    assert first.id == second.id and first.lease != second.lease

    def failed(lease: Any, at: float) -> Settlement:
        attempt = Attempt(started_at=at, duration=0.1, outcome="failed", status=500)
        return Settlement(first.id, subscription.id, attempt, DeliveryState.PENDING,
                          lease=lease, next_attempt_at=at + 60)

    assert await store.deliveries.record_many([failed(first.lease, now + 7)]) == [False]
    assert await store.deliveries.record_many([failed(second.lease, now + 8)]) == [True]
    assert await store.deliveries.record_many([failed(second.lease, now + 9)]) == [False]

    (third,) = (await store.deliveries.claim_due(
        owner="two", now=now + 70, ttl=5, limit=10, per_subscription=10
    )).deliveries
    await store.subscriptions.remove(topic=TOPIC, callback="https://a.example/cb",
                                     now=now + 71)
    assert await store.deliveries.record_many([failed(third.lease, now + 72)]) == [False]
    found = await rows(database, "SELECT state, attempts, next_attempt_at FROM deliveries")
    assert found == [("cancelled", 1, now + 68)]
