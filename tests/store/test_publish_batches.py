"""A group commit of several publish requests: written in bulk, answered as if one by one."""

from __future__ import annotations

import time

from hub.database_url import DatabaseLocation
from hub.store import EventKind, NewEvent, PublishRequest, Store

from .raw import rows

TOPIC = "https://hub.example/topics/login"
FAILED = "urn:test:login-failed"
CHANGED = "urn:test:password-changed"


def event(event_type: str, txn: str, key: str | None = None, topic: str = TOPIC) -> NewEvent:
    return NewEvent(
        topic=topic,
        content_type="application/json",
        body=b"{}",
        kind=EventKind.IDENTITY,
        event_type=event_type,
        txn=txn,
        idempotency_key=key,
    )


async def test_mixed_group_commit_counts_and_keys(store: Store, database: DatabaseLocation) -> None:
    now = time.time()
    everything = await store.subscriptions.activate(
        topic=TOPIC, callback="https://a.example/cb", secret=None, lease_seconds=600, now=now
    )
    only_failed = await store.subscriptions.activate(
        topic=TOPIC, callback="https://b.example/cb", secret=None, lease_seconds=600, now=now,
        event_types=(FAILED,),
    )
    answers = await store.deliveries.publish_requests([
        PublishRequest((event(FAILED, "t1"), event(CHANGED, "t2")), now),
        PublishRequest((event(FAILED, "t3", key="k"),), now),
        PublishRequest((event(CHANGED, "t4", topic="https://hub.example/topics/other"),), now),
        PublishRequest((event(FAILED, "t5", key="k"),), now, idempotency_window=60),
        PublishRequest((event(CHANGED, "t6"),), now),
    ])
    counts = [[(p.txn, p.deliveries) for p in published] for published, _ in answers]
    assert counts == [
        [("t1", 2), ("t2", 1)],
        [("t3", 2)],
        [("t4", 0)],
        [("t3", 2)],  # the key repeated in the same group commit: the first answer again
        [("t6", 1)],
    ]
    assert [replayed for _, replayed in answers] == [False, False, False, True, False]
    ids = [p.id for published, _ in answers for p in published]
    assert len(set(ids)) == 5 and ids[2] == ids[4]  # t3 answered twice, with one id

    by_event = {p.txn: p.id for published, _ in answers for p in published}
    expected = sorted([
        (by_event["t1"], everything.id), (by_event["t1"], only_failed.id),
        (by_event["t2"], everything.id),
        (by_event["t3"], everything.id), (by_event["t3"], only_failed.id),
        (by_event["t6"], everything.id),
    ])
    assert await rows(
        database, "SELECT event_id, subscription_id FROM deliveries ORDER BY 1, 2"
    ) == expected
