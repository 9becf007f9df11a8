"""Deliveries on both backends: stored with their event, claimed fairly as leases, started,
listed, re-queued, counted and purged."""

from __future__ import annotations

import re

from hub.database_url import DatabaseLocation, PostgresURL
from hub.store import (
    Attempt,
    DeliveryState,
    EventKind,
    NewEvent,
    Settlement,
    Store,
    Subscription,
    WorkKind,
)
from hub.store.postgres import deliveries as postgres_deliveries
from hub.store.sqlite import deliveries as sqlite_deliveries

from .raw import change, rows, wide_reads

TOPIC = "https://hub.example/topics/news"


async def _subscribe(store: Store, name: str, **kw: object) -> Subscription:
    return await store.subscriptions.activate(
        topic=TOPIC, callback=f"https://{name}.example/cb", secret=None, lease_seconds=600,
        now=0.0, **kw,  # type: ignore[arg-type]
    )


async def _publish(store: Store, count: int, now: float = 1.0, **kw: object) -> list[int]:
    events = [NewEvent(topic=TOPIC, content_type="text/plain", body=f"e{n}".encode(), **kw)  # type: ignore[arg-type]
              for n in range(count)]
    published, replayed = await store.deliveries.publish_batch(events, now=now)
    assert not replayed
    return [p.id for p in published]


def _delivered(item_id: int, sid: int, lease: object, at: float = 5.0) -> Settlement:
    attempt = Attempt(started_at=at, duration=0.1, outcome="delivered", status=202)
    return Settlement(item_id, sid, attempt, DeliveryState.DELIVERED, lease=lease)  # type: ignore[arg-type]


async def test_publishing_makes_one_delivery_per_matching_active_subscription(
    store: Store, database: DatabaseLocation
) -> None:
    heard: list[WorkKind] = []
    store.on_work_stored(heard.append)
    everything = await _subscribe(store, "all")
    await _subscribe(store, "only-b", event_types=("urn:b",))
    await store.subscriptions.activate(topic=TOPIC, callback="https://gone.example/cb",
                                       secret=None, lease_seconds=1, now=0.0)
    published, _ = await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="application/json", body=b"{}",
                  kind=EventKind.IDENTITY, event_type="urn:a", txn="t1")],
        now=5.0,
    )
    assert [(p.deliveries, p.txn, p.topic) for p in published] == [(1, "t1", TOPIC)]
    assert heard == [WorkKind.DELIVERIES]
    (claimed,) = (await store.deliveries.claim_due(
        owner="n", now=5.0, ttl=60, limit=10, per_subscription=10)).deliveries
    assert claimed.subscription_id == everything.id and claimed.kind is EventKind.IDENTITY
    assert not claimed.rendered and claimed.body == b"{}" and claimed.event_created_at == 5.0
    assert claimed.jti is not None and re.fullmatch("[0-9a-f]{32}", claimed.jti)
    content = await store.deliveries.publish(topic=TOPIC, content_type="text/plain", body=b"x",
                                             now=6.0)
    assert content.deliveries == 2  # content has no event type: every subscription
    assert await store.deliveries.counts() == {
        "pending": 3, "delivered": 0, "dead": 0, "cancelled": 0
    }
    assert await store.deliveries.next_due_at() == 5.0
    assert len(await rows(database, "SELECT id FROM events")) == 2


async def test_a_claim_shares_fairly_skips_busy_and_held_and_reads_on_from_the_newest(
    store: Store,
) -> None:
    a, b, c = [await _subscribe(store, name) for name in "abc"]
    await _publish(store, 5)  # 5 deliveries to each of a, b and c
    first = await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=60, limit=100, per_subscription=2, held={a.id: 1},
        busy_subscriptions=[c.id],
    )
    taken = [d.subscription_id for d in first.deliveries]
    assert sorted(taken) == sorted([a.id, b.id, b.id])  # a held one already; c is busy
    assert first.newest_id >= max(d.id for d in first.deliveries)
    held = [d.id for d in first.deliveries]
    # a claim of new work reads only deliveries stored after the newest id it was given
    assert (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=60, limit=100, per_subscription=100,
        newer_than=first.newest_id)).deliveries == []
    await _publish(store, 1, now=2.0)
    new = await store.deliveries.claim_due(
        owner="n", now=3.0, ttl=60, limit=100, per_subscription=100,
        newer_than=first.newest_id, exclude=held,
    )
    assert sorted(d.subscription_id for d in new.deliveries) == sorted([a.id, b.id, c.id])
    assert all(d.id > first.newest_id for d in new.deliveries)
    # an expired claim is claimed again, by another owner, under a new generation
    again = await store.deliveries.claim_due(
        owner="m", now=100.0, ttl=60, limit=100, per_subscription=100,
    )
    leases = {d.id: d.lease for d in again.deliveries}
    for item in first.deliveries:
        assert leases[item.id].owner == "m" and leases[item.id] != item.lease


async def test_a_claim_cancels_the_queue_of_an_ended_subscription(
    store: Store, database: DatabaseLocation
) -> None:
    a = await _subscribe(store, "a")
    b = await _subscribe(store, "b")
    await _publish(store, 2)
    await store.subscriptions.disable_failing(failing_before=0.0, now=1.5)  # nobody is failing
    # b's lease is over by the time of this claim: its deliveries are cancelled, not sent
    claimed = await store.deliveries.claim_due(
        owner="n", now=650.0, ttl=60, limit=10, per_subscription=10
    )
    assert claimed.deliveries == []
    assert sorted(await rows(database, "SELECT subscription_id, state FROM deliveries")) == sorted(
        [(a.id, "cancelled"), (a.id, "cancelled"), (b.id, "cancelled"), (b.id, "cancelled")]
    )


async def test_an_attempt_starts_only_under_its_lease_while_the_subscription_lasts(
    store: Store, database: DatabaseLocation
) -> None:
    a = await _subscribe(store, "a")
    b = await _subscribe(store, "b")
    await _publish(store, 1)
    claimed = (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=10, limit=10, per_subscription=10)).deliveries
    for_a = next(d for d in claimed if d.subscription_id == a.id)
    for_b = next(d for d in claimed if d.subscription_id == b.id)
    await store.subscriptions.remove_by_id(b.id, now=3.0)
    stale = type(for_a.lease)(owner="n", generation=for_a.lease.generation + 7)
    assert await store.deliveries.start_attempts(
        [(for_a.id, for_a.lease), (for_b.id, for_b.lease), (for_a.id, stale), (999, stale)],
        now=4.0, ttl=100.0,
    ) == [True, False, False, False]
    (expires,) = await rows(database, "SELECT claim_expires FROM deliveries WHERE id = ?",
                            for_a.id)
    assert expires == (104.0,)  # extended: no claim expires while its attempt is on the wire
    assert await store.deliveries.record_many([_delivered(for_a.id, a.id, for_a.lease)]) == [True]
    assert await store.deliveries.start_attempts([(for_a.id, for_a.lease)], now=6.0,
                                                 ttl=1.0) == [False]


async def test_dead_letters_are_listed_and_requeued_only_for_current_subscriptions(
    store: Store,
) -> None:
    heard: list[WorkKind] = []
    a = await _subscribe(store, "a")
    b = await _subscribe(store, "b")
    await _publish(store, 1)
    claimed = (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=10, limit=10, per_subscription=10)).deliveries
    dead = {
        d.subscription_id: Settlement(
            d.id, d.subscription_id,
            Attempt(started_at=3.0, duration=0.5, outcome="rejected", status=400,
                    error="HTTP 400 invalid_key"),
            DeliveryState.DEAD, rejection="invalid_key", lease=d.lease,
        )
        for d in claimed
    }
    assert await store.deliveries.record_many(list(dead.values())) == [True, True]
    listed = await store.deliveries.listing(state=DeliveryState.DEAD)
    assert [(r["callback"], r["topic"], r["rejection"], r["last_status"], r["attempts"])
            for r in listed] == [
        ("https://b.example/cb", TOPIC, "invalid_key", 400, 1),
        ("https://a.example/cb", TOPIC, "invalid_key", 400, 1),
    ]
    assert await store.deliveries.listing(state=DeliveryState.DEAD, limit=1) == listed[:1]
    await store.subscriptions.remove_by_id(b.id, now=4.0)
    store.on_work_stored(heard.append)
    later = await store.deliveries.publish(topic=TOPIC, content_type="t", body=b"", now=50.0)
    report = await store.deliveries.requeue(
        [dead[a.id].delivery_id, dead[b.id].delivery_id, 12345], now=5.0
    )
    assert report.requeued == [dead[a.id].delivery_id]
    assert report.ended == [dead[b.id].delivery_id] and report.unknown == [12345]
    assert heard == [WorkKind.DELIVERIES, WorkKind.DELIVERIES]
    (again,) = (await store.deliveries.claim_due(
        owner="n", now=5.0, ttl=10, limit=10, per_subscription=10)).deliveries
    assert (again.id, again.attempts) == (dead[a.id].delivery_id, 0)
    report = await store.deliveries.requeue(None, now=6.0)
    assert report.requeued == [] and report.ended == [dead[b.id].delivery_id]
    assert later.deliveries == 1  # not due yet at the claim above


async def test_a_requeued_identity_delivery_is_signed_again_with_its_jti(
    store: Store, database: DatabaseLocation
) -> None:
    """The SET kept for retries is forgotten when a dead delivery is re-queued (it may be older
    than receivers accept by then), so the next attempt renders it again with the same jti. A
    delivery stored before jtis were (migration 3) keeps its SET: its jti is in no other place."""
    a = await _subscribe(store, "a")
    before_jtis = await _subscribe(store, "before-jtis")
    event = NewEvent(topic=TOPIC, content_type="application/secevent+jwt", body=b'{"e":1}',
                     kind=EventKind.IDENTITY, event_type="urn:a", txn="t")
    await store.deliveries.publish_batch([event], now=1.0)
    claimed = {d.subscription_id: d for d in (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=10, limit=10, per_subscription=10)).deliveries}
    await change(database, "UPDATE deliveries SET jti = NULL WHERE id = ?",
                 claimed[before_jtis.id].id)
    failed = Attempt(started_at=3.0, duration=0.1, outcome="failed", status=503)
    assert await store.deliveries.record_many([
        Settlement(d.id, sid, failed, DeliveryState.DEAD, body=f"SET for {sid}".encode(),
                   lease=d.lease)
        for sid, d in claimed.items()
    ]) == [True, True]

    assert len((await store.deliveries.requeue(None, now=5.0)).requeued) == 2
    again = {d.subscription_id: d for d in (await store.deliveries.claim_due(
        owner="n", now=5.0, ttl=10, limit=10, per_subscription=10)).deliveries}
    resigned, kept = again[a.id], again[before_jtis.id]
    assert not resigned.rendered and resigned.body == b'{"e":1}'
    assert resigned.jti == claimed[a.id].jti is not None
    assert kept.rendered and kept.body == f"SET for {before_jtis.id}".encode()


async def test_finished_work_is_purged_after_the_retention(
    store: Store, database: DatabaseLocation
) -> None:
    a = await _subscribe(store, "a")
    ended = await _subscribe(store, "ended")
    await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="t", body=b"x", idempotency_key="k")], now=1.0,
        idempotency_key="request", idempotency_window=60,
    )
    claimed = (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=10, limit=10, per_subscription=10)).deliveries
    for_a = next(d for d in claimed if d.subscription_id == a.id)
    await store.deliveries.record_many([_delivered(for_a.id, a.id, for_a.lease, at=3.0)])
    await store.subscriptions.remove_by_id(ended.id, now=4.0)  # its delivery: cancelled
    assert await store.deliveries.purge_finished(older_than=3.0) == 0
    assert await store.deliveries.purge_finished(older_than=100.0) == 2
    assert await rows(database, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    assert await rows(database, "SELECT COUNT(*) FROM events") == [(0,)]
    assert await rows(database, "SELECT COUNT(*) FROM idempotency_keys") == [(0,)]
    assert await rows(database, "SELECT id FROM subscriptions") == [(a.id,)]  # ended: gone
    # the key is forgotten: the same request publishes anew
    _, replayed = await store.deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="t", body=b"x")], now=200.0,
        idempotency_key="request", idempotency_window=60,
    )
    assert not replayed


async def test_the_purge_reads_only_what_it_removes(
    store: Store, database: DatabaseLocation
) -> None:
    """The janitor purges every sweep (on SQLite, on the store's only thread): no statement of
    the purge may read a whole table, or a whole index, to find the few rows it removes. Before
    migration 8, finished deliveries were found by reading every delivery (about 1 s at 2M
    rows), old events and idempotency keys by reading all of theirs."""
    for name in "ab":
        await _subscribe(store, name)
    for n in range(16):  # ended: one before the retention (purged), the others since
        ended = await _subscribe(store, f"ended{n}")
        await store.subscriptions.remove_by_id(ended.id, now=1.0 if n == 0 else 50.0)
    await _publish(store, 1, now=1.0)  # done with before the retention: purged
    recent = [NewEvent(topic=TOPIC, content_type="t", body=b"x", idempotency_key=f"k{n}")
              for n in range(50)]
    await store.deliveries.publish_batch(recent, now=10.0)
    claimed = (await store.deliveries.claim_due(
        owner="n", now=20.0, ttl=10, limit=1000, per_subscription=1000)).deliveries
    await store.deliveries.record_many([
        _delivered(d.id, d.subscription_id, d.lease, at=2.0 if d.event_created_at == 1.0 else 20)
        for d in claimed
    ])
    module = postgres_deliveries if isinstance(database, PostgresURL) else sqlite_deliveries
    wide = {sql: await wide_reads(database, sql, 5.0) for sql in module.PURGE_STATEMENTS}
    assert {sql: steps for sql, steps in wide.items() if steps} == {}
    assert await store.deliveries.purge_finished(older_than=5.0) == 2
    assert await rows(database, "SELECT COUNT(*) FROM deliveries") == [(100,)]
    assert await rows(database, "SELECT COUNT(*) FROM events") == [(50,)]
    assert await rows(database, "SELECT COUNT(*) FROM subscriptions") == [(17,)]


async def test_the_counts_kept_by_triggers_follow_every_change(
    store: Store, database: DatabaseLocation
) -> None:
    async def matches() -> bool:
        kept = {state: n for state, n in (await store.deliveries.counts()).items() if n}
        sql = "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
        counted = dict(await rows(database, sql))
        return kept == counted

    a = await _subscribe(store, "a")
    b = await _subscribe(store, "b")
    await _publish(store, 3)
    assert await matches() and (await store.deliveries.counts())["pending"] == 6
    claimed = (await store.deliveries.claim_due(
        owner="n", now=2.0, ttl=10, limit=10, per_subscription=10)).deliveries
    await store.deliveries.record_many([
        _delivered(d.id, d.subscription_id, d.lease) for d in claimed if d.subscription_id == a.id
    ])
    assert await matches()
    await store.subscriptions.remove_by_id(b.id, now=3.0)
    assert await matches()
    assert await store.deliveries.counts() == {
        "pending": 0, "delivered": 3, "dead": 0, "cancelled": 3
    }
    await store.deliveries.purge_finished(older_than=100.0)
    assert await matches() and sum((await store.deliveries.counts()).values()) == 0
