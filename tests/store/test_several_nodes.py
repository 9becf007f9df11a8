"""What several hub nodes on one PostgreSQL database rely on from the store: claims that never
overlap, a per-host bound that counts every node's claims, an idempotency key published once,
a lost connection reported as the store being unavailable, not as a driver's error, wake-ups
heard across nodes, one node at a time sweeping, and each intent verified by one node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

import asyncpg
import pytest

from hub.database_url import PostgresURL
from hub.store import (
    Claimed,
    IntentMode,
    NewEvent,
    Store,
    StoreUnavailableError,
    WorkKind,
    open_store,
)
from hub.store.postgres.claims import HOME_GRACE_SECONDS
from hub.store.postgres.database import Connection, PostgresDatabase
from hub.store.postgres.store import PostgresStore

TOPIC = "https://hub.example/topics/news"


@pytest.fixture
async def nodes(postgres_url: PostgresURL) -> AsyncIterator[list[Store]]:
    """Three stores on one database, as three hub nodes would open it."""
    stores = [await open_store(postgres_url) for _ in range(3)]
    yield stores
    for store in stores:
        await store.close()


async def test_nodes_claiming_at_once_never_take_the_same_delivery(nodes: list[Store]) -> None:
    for n in range(20):
        await nodes[0].subscriptions.activate(
            topic=TOPIC,
            callback=f"https://s{n}.example/cb",
            secret=None,
            lease_seconds=600,
            now=0.0,
        )
    await nodes[0].deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x") for _ in range(10)], now=1.0
    )  # 200 deliveries

    everything: list[int] = []

    async def claim_all(store: Store, owner: str) -> None:
        """Until every delivery is claimed: a claim may find nothing for a moment, while the
        subscriptions left are locked by another node's claim in progress."""
        for _ in range(500):
            claimed = await store.deliveries.claim_due(
                owner=owner, now=2.0, ttl=60, limit=7, per_subscription=100
            )
            everything.extend(d.id for d in claimed.deliveries)
            if len(everything) >= 200:
                return
            if not claimed.deliveries:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(claim_all(s, f"node{n}") for n, s in enumerate(nodes)))
    assert len(everything) == 200 and len(set(everything)) == 200


async def test_the_bound_per_callback_host_counts_every_nodes_claims(nodes: list[Store]) -> None:
    for n in range(6):
        await nodes[0].intents.add(
            mode=IntentMode.SUBSCRIBE,
            topic=TOPIC,
            callback=f"https://a.example/cb{n}",
            now=0.0,
            callback_host="a.example",
        )
    claims = await asyncio.gather(
        *(
            store.intents.claim_due(owner=f"node{n}", now=1.0, ttl=60, limit=10, per_host=2)
            for n, store in enumerate(nodes)
        )
    )
    assert sum(len(claimed) for claimed in claims) == 2


async def test_one_idempotency_key_given_to_two_nodes_at_once_publishes_once(
    nodes: list[Store],
) -> None:
    await nodes[0].subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=600, now=0.0
    )
    event = NewEvent(topic=TOPIC, content_type="text/plain", body=b"x")
    answers = await asyncio.gather(
        *(
            store.deliveries.publish_batch(
                [event], now=1.0, idempotency_key="same", idempotency_window=60
            )
            for store in nodes
        )
    )
    assert len({published[0].id for published, _ in answers}) == 1
    assert sorted(replayed for _, replayed in answers) == [False, True, True]
    assert (await nodes[0].deliveries.counts())["pending"] == 1


async def test_a_connection_lost_mid_transaction_is_the_store_unavailable(
    postgres_url: PostgresURL,
) -> None:
    """The server ends the connection while a transaction runs (a restart, a failover, an
    operator): the caller gets StoreUnavailableError (the hub answers 503), the health says so,
    and the next write, on a new connection, works and clears it."""
    db = await PostgresDatabase.open(postgres_url, clock=time.time)
    try:
        started = asyncio.Event()

        async def slow(conn: Connection) -> None:
            started.set()
            await conn.execute("SELECT pg_sleep(10)")

        work = asyncio.create_task(db.run(slow))
        await asyncio.wait_for(started.wait(), 5)
        admin = await asyncpg.connect(postgres_url.dsn)
        try:
            await until_terminated(admin)
        finally:
            await admin.close()
        with pytest.raises(StoreUnavailableError):
            await asyncio.wait_for(work, 10)
        assert db.health.failure is not None
        assert await db.run(lambda conn: conn.fetchval("SELECT 1")) == 1
        assert db.health.ok
    finally:
        await db.close()


async def until_terminated(admin: asyncpg.Connection) -> None:
    """Terminate the backend sleeping in pg_sleep, once it shows up as active."""
    for _ in range(100):
        ended = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'"
            " AND pid <> pg_backend_pid()"
        )
        if ended:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the sleeping transaction never showed up")


def heard_by(store: Store) -> tuple[list[WorkKind], asyncio.Event]:
    """What `store` hears of new work, and an event set at each piece of news."""
    heard: list[WorkKind] = []
    news = asyncio.Event()

    def listener(kind: WorkKind) -> None:
        heard.append(kind)
        news.set()

    store.on_work_stored(listener)
    return heard, news


async def listening(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    await store.hearing.wait_listening(5)


async def test_a_node_hears_the_work_another_node_stored(nodes: list[Store]) -> None:
    """Wake-ups cross nodes (NOTIFY at commit, LISTEN): node 1 hears node 0's publish and
    subscription request once each, and node 0 hears its own commits once, not twice."""
    (heard0, _), (heard1, news1) = heard_by(nodes[0]), heard_by(nodes[1])
    await asyncio.gather(listening(nodes[0]), listening(nodes[1]))
    event = NewEvent(topic=TOPIC, content_type="text/plain", body=b"x")
    await nodes[0].deliveries.publish_batch([event], now=1.0)  # nobody subscribed: no work
    await nodes[0].subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=600, now=0.0
    )
    await nodes[0].deliveries.publish_batch([event], now=1.0)
    await asyncio.wait_for(news1.wait(), 5)
    news1.clear()
    await nodes[0].intents.add(
        mode=IntentMode.SUBSCRIBE, topic=TOPIC, callback="https://b.example/cb", now=2.0
    )
    await asyncio.wait_for(news1.wait(), 5)
    await asyncio.sleep(0.2)  # room for a notification that should not come
    assert heard1 == [WorkKind.DELIVERIES, WorkKind.INTENTS]
    assert heard0 == [WorkKind.DELIVERIES, WorkKind.INTENTS]


async def test_a_node_listens_again_after_losing_its_connection(
    nodes: list[Store], postgres_url: PostgresURL
) -> None:
    """The server ends the listening connection: the node reconnects, tells its workers to look
    (what was stored meanwhile was not heard of), and hears the other nodes again."""
    heard, news = heard_by(nodes[1])
    await listening(nodes[1])
    admin = await asyncpg.connect(postgres_url.dsn)
    try:
        ended = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE $1",
            "sethub listener %",
        )
    finally:
        await admin.close()
    assert ended >= 1
    for _ in range(100):
        if set(heard) == set(WorkKind):
            break
        await asyncio.sleep(0.05)
    assert sorted(heard) == sorted(WorkKind)
    await listening(nodes[1])
    heard.clear()
    news.clear()
    await nodes[0].intents.add(
        mode=IntentMode.SUBSCRIBE, topic=TOPIC, callback="https://b.example/cb", now=2.0
    )
    await asyncio.wait_for(news.wait(), 5)
    assert heard == [WorkKind.INTENTS]


async def test_one_node_at_a_time_sweeps(nodes: list[Store], postgres_url: PostgresURL) -> None:
    """The janitor's turn: the first node to ask keeps it while it lives; the others are told
    no, and one of them takes over once that node is gone."""
    first = await open_store(postgres_url)
    try:
        assert await first.sweeps_here()
        assert [await node.sweeps_here() for node in nodes] == [False, False, False]
        assert await first.sweeps_here()  # still its turn
    finally:
        await first.close()
    for _ in range(100):  # the server ends the session (and frees its lock) just after
        if await nodes[0].sweeps_here():
            break
        await asyncio.sleep(0.02)
    assert [await node.sweeps_here() for node in nodes] == [True, False, False]


async def test_two_nodes_claiming_intents_at_once_never_take_the_same_one(
    nodes: list[Store],
) -> None:
    """A verification runs on one node only: claims at once split the intents, and a claimed
    intent is not claimed again while its lease lasts."""
    for n in range(40):
        await nodes[0].intents.add(
            mode=IntentMode.SUBSCRIBE,
            topic=TOPIC,
            callback=f"https://h{n}.example/cb",
            now=0.0,
            callback_host=f"h{n}.example",
        )
    claims = await asyncio.gather(
        *(
            store.intents.claim_due(owner=f"node{n}", now=1.0, ttl=30, limit=25, per_host=2)
            for n, store in enumerate(nodes[:2])
        )
    )
    ids = [intent.id for claimed in claims for intent in claimed]
    assert len(ids) == 40 and len(set(ids)) == 40
    again = await nodes[2].intents.claim_due(owner="node2", now=30.9, ttl=30, limit=40, per_host=2)
    assert again == []
    expired = await nodes[2].intents.claim_due(
        owner="node2", now=31.0, ttl=30, limit=40, per_host=2
    )
    assert len(expired) == 40


async def test_one_node_at_a_time_holds_claims_on_a_subscription(nodes: list[Store]) -> None:
    """So that the cap on a subscriber's requests, which each node enforces on its own, holds
    for the hub: while a node holds live claims on a subscription, the others pass over it;
    claims at once give each subscription to one node; once the claims expire, another node
    takes the subscription."""
    a, b, c = [
        await nodes[0].subscriptions.activate(
            topic=TOPIC,
            callback=f"https://{name}.example/cb",
            secret=None,
            lease_seconds=600,
            now=0.0,
        )
        for name in ("a", "b", "c")
    ]
    await nodes[0].deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x") for _ in range(10)], now=1.0
    )  # 10 deliveries to each subscription

    async def claim(store: Store, owner: str, now: float = 2.0, **extra: object) -> dict[int, int]:
        claimed = await store.deliveries.claim_due(
            owner=owner, now=now, ttl=60, limit=50, per_subscription=3, **extra
        )
        per_subscription: dict[int, int] = {}
        for delivery in claimed.deliveries:
            sid = delivery.subscription_id
            per_subscription[sid] = per_subscription.get(sid, 0) + 1
        return per_subscription

    assert await claim(nodes[0], "node0", busy_subscriptions=[b.id, c.id]) == {a.id: 3}
    at_once = await asyncio.gather(claim(nodes[1], "node1"), claim(nodes[2], "node2"))
    assert all(a.id not in claimed for claimed in at_once)
    for sub in (b, c):  # each to one node only
        assert sorted(claimed.get(sub.id, 0) for claimed in at_once) == [0, 3]
    assert await claim(nodes[0], "node0", held={a.id: 3}) == {}  # its own, and the others'
    assert await claim(nodes[1], "node3", now=62.0) == {a.id: 3, b.id: 3, c.id: 3}


async def test_a_claim_passes_over_what_another_node_holds_until_its_claims_expire(
    nodes: list[Store],
) -> None:
    """A node takes nothing for a subscription on which another node holds live claims, and
    takes it once the last of those claims has expired."""
    a, b = [
        await nodes[0].subscriptions.activate(
            topic=TOPIC,
            callback=f"https://{name}.example/cb",
            secret=None,
            lease_seconds=600,
            now=0.0,
        )
        for name in ("a", "b")
    ]
    await nodes[0].deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x") for _ in range(10)], now=1.0
    )  # 10 deliveries to each subscription

    async def claim(owner: str, now: float, **extra: object) -> Claimed:
        return await nodes[1].deliveries.claim_due(
            owner=owner, now=now, ttl=60, limit=50, per_subscription=3, **extra
        )

    first = await nodes[0].deliveries.claim_due(
        owner="node0", now=2.0, ttl=60, limit=50, per_subscription=3, busy_subscriptions=[b.id]
    )
    assert {d.subscription_id for d in first.deliveries} == {a.id}
    await nodes[0].deliveries.claim_due(
        owner="node0", now=5.0, ttl=60, limit=1, per_subscription=4, busy_subscriptions=[b.id]
    )  # one more, expiring later
    claimed = await claim("node1", now=6.0)
    assert {d.subscription_id for d in claimed.deliveries} == {b.id}
    passing_over = await claim("node1", now=7.0, busy_subscriptions=[a.id], held={b.id: 3})
    assert passing_over.deliveries == []
    assert (await claim("node2", now=64.0, busy_subscriptions=[b.id])).deliveries == []
    expired = await claim("node2", now=66.0, busy_subscriptions=[b.id])
    assert {d.subscription_id for d in expired.deliveries} == {a.id}


async def test_listening_nodes_claim_first_for_their_own_share(nodes: list[Store]) -> None:
    """Each listening node counts the others and claims for its share of the subscriptions
    (id modulo the count), so that the first to claim does not take and keep them all; the
    others' deliveries become its too once they have waited HOME_GRACE_SECONDS. A node that
    does not listen counts itself alone and claims for all."""
    subscriptions = [
        await nodes[0].subscriptions.activate(
            topic=TOPIC,
            callback=f"https://s{n}.example/cb",
            secret=None,
            lease_seconds=600,
            now=0.0,
        )
        for n in range(4)
    ]
    await nodes[0].deliveries.publish_batch(
        [NewEvent(topic=TOPIC, content_type="text/plain", body=b"x") for _ in range(5)], now=1.0
    )  # 5 deliveries to each subscription
    listeners = []
    for store in nodes[:2]:
        heard_by(store)
        await listening(store)
        assert isinstance(store, PostgresStore)
        listeners.append(store.hearing)
    for _ in range(150):  # each counts the other within its next check
        if all(listener.place[1] == 2 for listener in listeners):
            break
        await asyncio.sleep(0.1)
    assert sorted(listener.place for listener in listeners) == [(0, 2), (1, 2)]

    async def claimed_for(
        store: Store, owner: str, now: float, ttl: float, busy: Iterable[int] = ()
    ) -> set[int]:
        claimed = await store.deliveries.claim_due(
            owner=owner, now=now, ttl=ttl, limit=50, per_subscription=2, busy_subscriptions=busy
        )
        return {delivery.subscription_id for delivery in claimed.deliveries}

    def share(index: int) -> set[int]:
        return {sub.id for sub in subscriptions if sub.id % 2 == index}

    first, second = (listener.place[0] for listener in listeners)
    assert await claimed_for(nodes[0], "node0", now=2.0, ttl=60) == share(first)
    assert await claimed_for(nodes[1], "node1", now=2.0, ttl=5) == share(second)
    # node1's claims have expired, but its deliveries have not waited long enough
    mine = share(first)  # node0 holds claims on these: not asked for more
    assert await claimed_for(nodes[0], "node0", now=10.0, ttl=60, busy=mine) == set()
    later = 1.0 + HOME_GRACE_SECONDS
    assert await claimed_for(nodes[0], "node0", now=later, ttl=60, busy=mine) == share(second)
    assert await claimed_for(nodes[2], "alone", now=80.0, ttl=60) == share(0) | share(1)
