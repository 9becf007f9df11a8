"""Storing published events with one delivery row per matching subscription, in bulk, on
PostgreSQL (the rules are those of `..sqlite.events`).

The events of a group commit that carry no idempotency key are written in two statements,
whatever their number and their subscribers': one INSERT ... SELECT FROM unnest(arrays) for the
events, one INSERT ... SELECT that makes every delivery and answers the count per event.
Requests with a key are written one by one, in order, so a key repeated within one group commit
is still seen; their keys are locked first (advisory locks, in key order, so two nodes never wait
on each other in a circle) so that two nodes given the same key at once publish it once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import astuple

from ..records import NewEvent, PublishedEvent, PublishRequest
from .database import Connection

__all__ = ["publish_all"]

Answer = tuple[list[PublishedEvent], bool]  # the events, and whether all of it is a replay

_INSERT_EVENTS = (
    "INSERT INTO events (topic, kind, event_type, content_type, body, created_at)"
    " SELECT topic, kind, event_type, content_type, body, created_at"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::float8[])"
    " WITH ORDINALITY AS e(topic, kind, event_type, content_type, body, created_at, n)"
    " ORDER BY n RETURNING id"
)
# A jti is 128 bits as hex on SQLite (randomblob); here 122 random bits of a version 4 UUID, in
# the same 32 hex digits.
_INSERT_DELIVERIES = (
    "WITH made AS ("
    " INSERT INTO deliveries"
    " (event_id, subscription_id, next_attempt_at, created_at, updated_at, jti)"
    " SELECT e.id, s.id, e.created_at, e.created_at, e.created_at,"
    " CASE WHEN e.kind = 'identity' THEN replace(gen_random_uuid()::text, '-', '') END"
    " FROM events e JOIN subscriptions s ON s.topic = e.topic"
    " WHERE e.id = ANY($1::bigint[]) AND s.expires_at > e.created_at AND s.disabled_at IS NULL"
    " AND s.ended_at IS NULL"
    " AND (e.event_type IS NULL OR s.event_types IS NULL OR e.event_type = ANY(s.event_types))"
    " RETURNING event_id)"
    " SELECT event_id, COUNT(*) AS n FROM made GROUP BY event_id"
)
_LOCK_KEYS = (
    "SELECT pg_advisory_xact_lock(hashtext('sethub idempotency ' || key))"
    " FROM (SELECT key FROM unnest($1::text[]) AS k(key)"
    ' GROUP BY key ORDER BY key COLLATE "C") AS keys'
)


async def publish_all(conn: Connection, requests: Sequence[PublishRequest]) -> list[Answer]:
    """Every request's answer, in order, inside the caller's transaction."""
    keys = [
        key
        for request in requests
        for key in (request.idempotency_key, *(e.idempotency_key for e in request.events))
        if key is not None
    ]
    if keys:
        await conn.execute(_LOCK_KEYS, keys)
    answers: list[Answer | None] = [None] * len(requests)
    bulk: list[tuple[int, NewEvent]] = []
    for number, request in enumerate(requests):
        if request.keyed or not request.events:
            answers[number] = await _publish_keyed(conn, request)
        else:
            bulk.extend((number, event) for event in request.events)
    if bulk:
        stored = await _insert_many(conn, [(requests[n].now, event) for n, event in bulk])
        for (number, _), published in zip(bulk, stored, strict=True):
            answer = answers[number]
            if answer is None:
                answer = answers[number] = ([], False)
            answer[0].append(published)
    done = [answer for answer in answers if answer is not None]
    if len(done) != len(requests):  # every request is keyed, empty or in the bulk: a bug here
        raise RuntimeError("a publish request was left without an answer")
    return done


async def _publish_keyed(conn: Connection, request: PublishRequest) -> Answer:
    since, now = request.now - request.idempotency_window, request.now
    if request.idempotency_key is not None:
        replay = await _remembered(conn, request.idempotency_key, since)
        if replay is not None:
            return [PublishedEvent(*item) for item in replay], True
    published: list[PublishedEvent] = []
    replays = 0
    for event in request.events:
        seen = None
        if event.idempotency_key is not None:
            seen = await _remembered(conn, event.idempotency_key, since)
        if seen is not None:
            published.append(PublishedEvent(*seen[0]))
            replays += 1
            continue
        (first,) = await _insert_many(conn, [(now, event)])
        published.append(first)
        if event.idempotency_key is not None:
            await _remember(conn, event.idempotency_key, [first], now)
    if request.idempotency_key is not None:
        await _remember(conn, request.idempotency_key, published, now)
    return published, replays == len(request.events)


async def _insert_many(
    conn: Connection, events: Sequence[tuple[float, NewEvent]]
) -> list[PublishedEvent]:
    rows = await conn.fetch(
        _INSERT_EVENTS,
        [e.topic for _, e in events],
        [str(e.kind) for _, e in events],
        [e.event_type for _, e in events],
        [e.content_type for _, e in events],
        [e.body for _, e in events],
        [now for now, _ in events],
    )
    # Identity values are drawn in the order the rows are inserted, which is the ORDER BY's:
    # the ids in ascending order are the events' in order.
    ids = sorted(row["id"] for row in rows)
    if len(ids) != len(events):
        raise RuntimeError(f"expected {len(events)} new events, got {len(ids)}")
    counts = {row["event_id"]: row["n"] for row in await conn.fetch(_INSERT_DELIVERIES, ids)}
    return [
        PublishedEvent(
            id=event_id, topic=event.topic, deliveries=counts.get(event_id, 0), txn=event.txn
        )
        for event_id, (_, event) in zip(ids, events, strict=True)
    ]


async def _remembered(conn: Connection, key: str, since: float) -> list[list[object]] | None:
    response = await conn.fetchval(
        "SELECT response FROM idempotency_keys WHERE key = $1 AND created_at > $2", key, since
    )
    return None if response is None else json.loads(response)


async def _remember(
    conn: Connection, key: str, published: list[PublishedEvent], now: float
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (key, response, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (key) DO UPDATE SET response = excluded.response,"
        " created_at = excluded.created_at",
        key,
        json.dumps([astuple(p) for p in published]),
        now,
    )
