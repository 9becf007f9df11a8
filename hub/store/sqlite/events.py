"""Storing published events with one delivery row per matching subscription, in bulk.

All the events of a group commit that carry no idempotency key are written with a fixed number
of statements, whatever their number and their subscribers': one executemany for the events, one
INSERT ... SELECT for every delivery, one count per event for the answers. (Two statements per
event, on the store's thread, were a third of its time when ingesting batches.) Requests with a
key are written one by one, in order, so a key repeated within one group commit is still seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import astuple

from ..records import NewEvent, PublishedEvent, PublishRequest
from .database import Connection

__all__ = ["publish_all"]

Answer = tuple[list[PublishedEvent], bool]  # the events, and whether all of it is a replay


def publish_all(conn: Connection, requests: Sequence[PublishRequest]) -> list[Answer]:
    """Every request's answer, in order, inside the caller's transaction."""
    answers: list[Answer | None] = [None] * len(requests)
    bulk: list[tuple[int, NewEvent]] = []
    for number, request in enumerate(requests):
        if request.keyed or not request.events:
            answers[number] = _publish_keyed(conn, request)
        else:
            bulk.extend((number, event) for event in request.events)
    if bulk:
        stored = _insert_many(conn, [(requests[n].now, event) for n, event in bulk])
        for (number, _), published in zip(bulk, stored, strict=True):
            answer = answers[number]
            if answer is None:
                answer = answers[number] = ([], False)
            answer[0].append(published)
    done = [answer for answer in answers if answer is not None]
    if len(done) != len(requests):  # every request is keyed, empty or in the bulk: a bug here
        raise RuntimeError("a publish request was left without an answer")
    return done


def _publish_keyed(conn: Connection, request: PublishRequest) -> Answer:
    since, now = request.now - request.idempotency_window, request.now
    if request.idempotency_key is not None:
        replay = _remembered(conn, request.idempotency_key, since)
        if replay is not None:
            return [PublishedEvent(*item) for item in replay], True
    published: list[PublishedEvent] = []
    replays = 0
    for event in request.events:
        seen = None
        if event.idempotency_key is not None:
            seen = _remembered(conn, event.idempotency_key, since)
        if seen is not None:
            published.append(PublishedEvent(*seen[0]))
            replays += 1
            continue
        (first,) = _insert_many(conn, [(now, event)])
        published.append(first)
        if event.idempotency_key is not None:
            _remember(conn, event.idempotency_key, [first], now)
    if request.idempotency_key is not None:
        _remember(conn, request.idempotency_key, published, now)
    return published, replays == len(request.events)


def _insert_many(
    conn: Connection, events: Sequence[tuple[float, NewEvent]]
) -> list[PublishedEvent]:
    conn.executemany(
        "INSERT INTO events (topic, kind, event_type, content_type, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(e.topic, str(e.kind), e.event_type, e.content_type, e.body, now) for now, e in events],
    )
    # Inside this write transaction nobody else inserts, and SQLite gives each new row the next
    # id of the table's sequence (AUTOINCREMENT): the events hold the ids just below the last
    # one. Checked anyway.
    (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
    first = last - len(events) + 1
    (found,) = conn.execute(
        "SELECT COUNT(*) FROM events WHERE id BETWEEN ? AND ?", (first, last)
    ).fetchone()
    if found != len(events):
        raise RuntimeError(f"expected {len(events)} new events in ids {first}..{last}")
    conn.execute(
        "INSERT INTO deliveries "
        "(event_id, subscription_id, next_attempt_at, created_at, updated_at, jti) "
        "SELECT e.id, s.id, e.created_at, e.created_at, e.created_at,"
        " CASE WHEN e.kind = 'identity' THEN lower(hex(randomblob(16))) END "
        "FROM events e JOIN subscriptions s ON s.topic = e.topic "
        "WHERE e.id BETWEEN ? AND ? AND s.expires_at > e.created_at AND s.disabled_at IS NULL"
        " AND s.ended_at IS NULL"
        " AND (e.event_type IS NULL OR s.event_types IS NULL"
        "  OR EXISTS (SELECT 1 FROM json_each(s.event_types) WHERE value = e.event_type))",
        (first, last),
    )
    counts = dict(
        conn.execute(
            "SELECT event_id, COUNT(*) FROM deliveries WHERE event_id BETWEEN ? AND ?"
            " GROUP BY event_id",
            (first, last),
        ).fetchall()
    )
    return [
        PublishedEvent(
            id=first + n, topic=event.topic, deliveries=counts.get(first + n, 0), txn=event.txn
        )
        for n, (_, event) in enumerate(events)
    ]


def _remembered(conn: Connection, key: str, since: float) -> list[list[object]] | None:
    row = conn.execute(
        "SELECT response FROM idempotency_keys WHERE key = ? AND created_at > ?", (key, since)
    ).fetchone()
    return None if row is None else json.loads(row["response"])


def _remember(conn: Connection, key: str, published: list[PublishedEvent], now: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO idempotency_keys (key, response, created_at) VALUES (?, ?, ?)",
        (key, json.dumps([astuple(p) for p in published]), now),
    )
