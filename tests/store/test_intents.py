"""Pending verifications on both backends: kept in order per (topic, callback), claimed hosts
round-robin with a bound per host, retried, finished; and what start-up releases."""

from __future__ import annotations

from hub.store import IntentMode, Store, WorkKind

TOPIC = "https://hub.example/topics/news"


async def _add(store: Store, callback: str, host: str, now: float = 0.0, **kw: object) -> int:
    return await store.intents.add(
        mode=IntentMode.SUBSCRIBE, topic=TOPIC, callback=callback, now=now, callback_host=host,
        **kw,  # type: ignore[arg-type]
    )


async def test_only_the_oldest_request_of_a_pair_is_claimed(store: Store) -> None:
    first = await _add(store, "https://a.example/cb", "a", secret=b"s1", lease_seconds=60,
                       audience="https://aud", event_types=("urn:x",), token_id=3)
    second = await _add(store, "https://a.example/cb", "a", secret=b"s2")
    assert await store.intents.count() == 2
    (claimed,) = await store.intents.claim_due(owner="n", now=1.0, ttl=30, limit=10, per_host=5)
    assert claimed.id == first
    assert (claimed.secret, claimed.lease_seconds, claimed.audience, claimed.event_types,
            claimed.token_id, claimed.callback_host, claimed.attempts) == (
        b"s1", 60, "https://aud", ("urn:x",), 3, "a", 0
    )
    # the later one waits while the first is claimed, and while it waits for its retry
    assert await store.intents.claim_due(owner="n", now=2.0, ttl=30, limit=10, per_host=5) == []
    await store.intents.retry_at(first, at=100.0)
    assert await store.intents.claim_due(owner="n", now=3.0, ttl=30, limit=10, per_host=5) == []
    (retried,) = await store.intents.claim_due(owner="n", now=100.0, ttl=30, limit=10, per_host=5)
    assert (retried.id, retried.attempts) == (first, 1)
    await store.intents.finish(first)
    (next_one,) = await store.intents.claim_due(owner="n", now=101.0, ttl=30, limit=10,
                                                per_host=5)
    assert next_one.id == second and next_one.secret == b"s2"


async def test_hosts_take_turns_and_each_has_a_bound_in_flight(store: Store) -> None:
    a = [await _add(store, f"https://a.example/cb{n}", "a") for n in range(4)]
    b = [await _add(store, f"https://b.example/cb{n}", "b") for n in range(2)]
    claimed = await store.intents.claim_due(owner="n", now=1.0, ttl=30, limit=3, per_host=2)
    assert sorted(i.id for i in claimed) == sorted([a[0], b[0], a[1]])
    # a has 2 in flight (its bound), b has 1: only b's second is due
    claimed = await store.intents.claim_due(owner="n", now=2.0, ttl=30, limit=10, per_host=2)
    assert [i.id for i in claimed] == [b[1]]
    # once the claims expire, every request is claimable again, a's up to its bound
    claimed = await store.intents.claim_due(owner="m", now=40.0, ttl=30, limit=10, per_host=2)
    assert sorted(i.id for i in claimed) == sorted([a[0], a[1], b[0], b[1]])


async def test_start_up_releases_claims_only_on_a_store_of_its_own(store: Store) -> None:
    await _add(store, "https://a.example/cb", "a")
    assert len(await store.intents.claim_due(owner="dead", now=1.0, ttl=300, limit=1,
                                             per_host=1)) == 1
    await store.release_claims()
    again = await store.intents.claim_due(owner="new", now=2.0, ttl=300, limit=1, per_host=1)
    # SQLite: this process is the only user, the dead one's claim is gone. PostgreSQL: another
    # node may hold it, so it stays until it expires.
    assert len(again) == (0 if store.shared else 1)


async def test_a_stored_request_is_announced(store: Store) -> None:
    heard: list[WorkKind] = []
    store.on_work_stored(heard.append)
    await _add(store, "https://a.example/cb", "a")
    assert heard == [WorkKind.INTENTS]
