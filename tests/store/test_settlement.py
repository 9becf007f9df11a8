"""One group commit of settlements: every delivery's new state, its attempt row, and the
subscriptions' runs of failures, whatever mix of outcomes the batch holds."""

from __future__ import annotations

import time

from hub.database_url import DatabaseLocation
from hub.store import Attempt, DeliveryState, EventKind, NewEvent, PublishRequest, Settlement, Store

from .raw import rows

TOPIC = "https://hub.example/topics/login"


async def test_a_mixed_batch_settles_each_delivery_and_each_subscription(
    store: Store, database: DatabaseLocation
) -> None:
    now = time.time()
    subs = [
        await store.subscriptions.activate(
            topic=TOPIC, callback=f"https://{name}.example/cb", secret=None,
            lease_seconds=600, now=now,
        )
        for name in ("ok", "flaky", "down")
    ]
    event = NewEvent(topic=TOPIC, content_type="application/json", body=b"{}",
                     kind=EventKind.IDENTITY, event_type="urn:test:e", txn="t")
    await store.deliveries.publish_requests([PublishRequest((event, event), now)])
    claimed = await store.deliveries.claim_due(
        owner="test", now=now + 1, ttl=60, limit=10, per_subscription=10
    )
    by_sub: dict[int, list[int]] = {}
    leases = {item.id: item.lease for item in claimed.deliveries}
    for item in claimed.deliveries:
        by_sub.setdefault(item.subscription_id, []).append(item.id)
    ok, flaky, down = (sorted(by_sub[s.id]) for s in subs)

    def attempt(at: float, status: int | None, error: str | None = None) -> Attempt:
        return Attempt(started_at=at, duration=0.25, outcome="x", status=status, error=error)

    set_sent = b"eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
    await store.deliveries.record_many([
        Settlement(ok[0], subs[0].id, attempt(now + 2, 202), DeliveryState.DELIVERED,
                   lease=leases[ok[0]]),
        Settlement(ok[1], subs[0].id, attempt(now + 2, 202), DeliveryState.DELIVERED,
                   lease=leases[ok[1]]),
        # flaky: one failed and one delivered in the same batch -> failing (failures last)
        Settlement(flaky[0], subs[1].id, attempt(now + 3, 500, "HTTP 500"),
                   DeliveryState.PENDING, next_attempt_at=now + 60, body=set_sent,
                   lease=leases[flaky[0]]),
        Settlement(flaky[1], subs[1].id, attempt(now + 2, 202), DeliveryState.DELIVERED,
                   lease=leases[flaky[1]]),
        # down: a retry, and a rejection that ends the delivery; the run starts at the one
        # settled first
        Settlement(down[0], subs[2].id, attempt(now + 5, None, "connect: refused"),
                   DeliveryState.PENDING, next_attempt_at=now + 30, body=set_sent,
                   lease=leases[down[0]]),
        Settlement(down[1], subs[2].id, attempt(now + 4, 400, "HTTP 400 invalid_key"),
                   DeliveryState.DEAD, rejection="invalid_key", body=set_sent,
                   lease=leases[down[1]]),
    ])

    async def read() -> tuple[dict[int, tuple], list[tuple], dict[int, object]]:
        deliveries = {
            row[0]: tuple(row[1:]) for row in await rows(
                database,
                "SELECT id, state, attempts, next_attempt_at, claimed_by, last_status,"
                " last_error, rejection, body, updated_at FROM deliveries",
            )
        }
        attempts = await rows(
            database,
            "SELECT delivery_id, attempt, started_at, duration, status, error, outcome"
            " FROM delivery_attempts ORDER BY id",
        )
        failing = dict(await rows(database, "SELECT id, failing_since FROM subscriptions"))
        return deliveries, attempts, failing

    deliveries, attempts, failing = await read()
    assert deliveries[ok[0]] == ("delivered", 1, now, None, 202, None, None, None, now + 2.25)
    assert deliveries[flaky[0]] == (
        "pending", 1, now + 60, None, 500, "HTTP 500", None, set_sent, now + 3.25
    )
    assert isinstance(deliveries[flaky[0]][7], bytes)  # stored as a BLOB, read back as sent
    assert deliveries[down[0]][:3] == ("pending", 1, now + 30)
    assert deliveries[down[1]] == (
        "dead", 1, now, None, 400, "HTTP 400 invalid_key", "invalid_key", set_sent, now + 4.25
    )
    assert [row[0] for row in attempts] == [ok[0], ok[1], flaky[0], flaky[1], down[0], down[1]]
    assert attempts[2] == (flaky[0], 1, now + 3, 0.25, 500, "HTTP 500", "x")
    assert attempts[4] == (down[0], 1, now + 5, 0.25, None, "connect: refused", "x")
    assert failing == {subs[0].id: None, subs[1].id: now + 3, subs[2].id: now + 5}

    # A later success ends the run; a body already kept is not replaced by a retry's.
    retried = await store.deliveries.claim_due(
        owner="test", now=now + 61, ttl=60, limit=10, per_subscription=10
    )
    (lease,) = (item.lease for item in retried.deliveries if item.id == flaky[0])
    assert lease != leases[flaky[0]]
    await store.deliveries.record_many([
        Settlement(flaky[0], subs[1].id, attempt(now + 70, 202), DeliveryState.DELIVERED,
                   body=b"another.set.value", lease=lease),
    ])
    deliveries, attempts, failing = await read()
    assert deliveries[flaky[0]][:2] == ("delivered", 2)
    assert deliveries[flaky[0]][7] == set_sent
    assert attempts[-1][:3] == (flaky[0], 2, now + 70)
    assert failing[subs[1].id] is None and failing[subs[2].id] == now + 5
