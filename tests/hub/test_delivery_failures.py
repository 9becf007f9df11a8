"""Every failed attempt is recorded and counted against the retry budget, whatever went wrong and
whatever the subscriber answered; one subscriber's answer cannot stop the others' outcomes from
being recorded (code review 4, security review H2 and L3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from hub.delivery.dispatcher import rejection_code

from .process import query
from .support import RunningHub, Subscriber, until

EVENT = {
    "type": "USER_LOGIN_FAILURE",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password"},
}


async def _subscribe(hub: RunningHub, callback: str, topic: str) -> str:
    url = hub.topic_url(topic)
    status, text = await hub.subscribe(url, callback)
    assert status == 202, text
    await until(lambda: hub.store.subscriptions.get(topic=url, callback=callback))
    return url


async def _publish_identity(hub: RunningHub, count: int = 1) -> None:
    body = json.dumps([{**EVENT, "txn": f"t{n}"} for n in range(count)]).encode()
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/json"}
    async with hub.session.post(f"{hub.settings.base_url}/events", data=body,
                                headers=headers) as response:
        assert response.status == 202, await response.text()


def _rows(hub: RunningHub, where: str = "1") -> list[tuple[Any, ...]]:
    return query(hub.settings.db, "SELECT state, attempts, last_status, last_error, rejection"
                                  f" FROM deliveries WHERE {where} ORDER BY id")


def _settled(hub: RunningHub, count: int) -> Callable[[], bool]:
    return lambda: len(_rows(hub, "state != 'pending'")) == count


SUPERSCRIPT_ANSWERS = {
    "Retry-After: superscript two, on a 503": (
        b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n"
    ),
    "status line 2-superscript-1-0": b"HTTP/1.1 2\xb90 OK\r\nContent-Length: 0\r\n\r\n",
    "Content-Length: superscript two": b"HTTP/1.1 500 Oops\r\nContent-Length: \xb2\r\n\r\n",
}


@pytest.mark.parametrize("answer", SUPERSCRIPT_ANSWERS.values(), ids=SUPERSCRIPT_ANSWERS.keys())
async def test_a_failure_the_client_cannot_parse_is_counted_and_dead_lettered(
    make_hub: Callable[..., Any], make_scripted: Callable[..., Any], answer: bytes
) -> None:
    """Before: a ValueError escaped handle(), nothing was recorded, and the delivery was sent
    again every claim_ttl, forever."""
    hub = await make_hub(retry_schedule=[0.05], delivery_timeout=0.3, verify_timeout=0.3,
                         claim_ttl=1.0)
    subscriber = await make_scripted(answer)
    await hub.create_topic("news")
    await _subscribe(hub, subscriber.callback, "news")
    await hub.publish_content("news", b"x")
    await until(_settled(hub, 1), timeout=5)
    ((state, attempts, _, error, _),) = _rows(hub)
    assert (state, attempts, len(subscriber.posts)) == ("dead", 2, 2)
    assert error


async def test_a_success_with_an_unreadable_retry_after_is_a_success(
    make_hub: Callable[..., Any], make_scripted: Callable[..., Any]
) -> None:
    """Before: `parse_retry_after` raised on a 200, and the delivery was resent forever."""
    hub = await make_hub(delivery_timeout=0.3, verify_timeout=0.3, claim_ttl=1.0)
    subscriber = await make_scripted(
        b"HTTP/1.1 200 OK\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n"
    )
    await hub.create_topic("news")
    await _subscribe(hub, subscriber.callback, "news")
    await hub.publish_content("news", b"x")
    await until(_settled(hub, 1), timeout=5)
    assert [row[:3] for row in _rows(hub)] == [("delivered", 1, 200)]
    assert len(subscriber.posts) == 1


async def test_an_exception_before_sending_is_a_counted_attempt(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """An identity event whose stored body cannot be rendered (here: corrupted on disk): the
    failure is recorded against the budget at once, not left to the claim's expiry."""
    hub = await make_hub(retry_schedule=[0.05])
    subscriber = await make_subscriber()
    topic = await _subscribe(hub, subscriber.callback, "login")
    sub = await hub.store.subscriptions.get(topic=topic, callback=subscriber.callback)
    assert sub is not None

    def corrupt() -> None:  # beside the hub, as an operator's sqlite3 would
        with contextlib.closing(sqlite3.connect(hub.settings.db, timeout=10)) as conn, conn:
            conn.execute("INSERT INTO events (topic, kind, event_type, content_type, body,"
                         " created_at) VALUES (?, 'identity', 'urn:x',"
                         " 'application/secevent+jwt', x'00ff', 0)", (topic,))
            conn.execute("INSERT INTO deliveries (event_id, subscription_id, next_attempt_at,"
                         " created_at, updated_at, jti) VALUES (last_insert_rowid(), ?, 0, 0, 0,"
                         " 'j1')", (sub.id,))

    await asyncio.to_thread(corrupt)
    await until(_settled(hub, 1), timeout=5)
    ((state, attempts, status, error, _),) = _rows(hub)
    assert (state, attempts, status) == ("dead", 2, None)
    assert error and "\\x" not in error
    assert subscriber.deliveries == []


NOT_REJECTIONS = {
    "lone surrogate": b'{"err":"\\ud800"}',
    "nested 4,000 deep": b"[" * 4000,
    "far too long": b'{"err":"' + b"a" * 4000 + b'"}',
    "not ASCII": '{"err":"invalid_kéy"}'.encode(),
    "control characters": b'{"err":"invalid\\n_key"}',
}


@pytest.mark.parametrize("body", NOT_REJECTIONS.values(), ids=NOT_REJECTIONS.keys())
def test_only_a_short_printable_err_is_an_rfc8935_rejection(body: bytes) -> None:
    assert rejection_code(400, "application/json", body) is None


def test_a_well_formed_rejection_is_read() -> None:
    body = b'{"err":"invalid_key","description":"unknown kid"}'
    assert rejection_code(400, "application/json; charset=utf-8", body) == "invalid_key"
    assert rejection_code(503, "application/json", body) is None


async def test_one_poisoned_answer_does_not_stop_the_others_outcomes(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """H2: one subscriber answers `{"err":"\\ud800"}` (and one nests its JSON 4,000 deep) while
    three others accept. Before: the shared settlement write failed for every delivery in it,
    which stayed claimed and was sent again after the claim expired."""
    hub = await make_hub(retry_schedule=[0.05])
    json_answer = {"Content-Type": "application/json"}
    poisoned = await make_subscriber(deliver_status=400, deliver_headers=json_answer,
                                     deliver_body=b'{"err":"\\ud800"}')
    nested = await make_subscriber(deliver_status=400, deliver_headers=json_answer,
                                   deliver_body=b"[" * 4000)
    healthy: list[Subscriber] = [await make_subscriber() for _ in range(3)]
    for sub in (poisoned, nested, *healthy):
        await _subscribe(hub, sub.callback, "login")
    await _publish_identity(hub, count=4)
    await until(_settled(hub, 20), timeout=8)
    for sub in healthy:
        assert len(sub.deliveries) == 4  # each exactly once
    for sub in (poisoned, nested):
        assert len(sub.deliveries) == 8  # each attempt counted: two per event, then dead
    rows = _rows(hub)
    assert sorted({row[:3] for row in rows}) == [("dead", 2, 400), ("delivered", 1, 202)]
    failed = [row for row in rows if row[0] == "dead"]
    assert {row[3] for row in failed} == {"HTTP 400 (not an RFC 8935 rejection)"}
    assert {row[4] for row in failed} == {None}
