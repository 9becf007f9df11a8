"""A delivery goes only to the subscription it was made for: ids are never reused, a delivery is
tied to its subscription by a foreign key, and nothing revives or re-queues the deliveries of a
subscription that has ended (security review M8, interop report D1, walkthrough 19)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.appkeys import DISPATCHER
from hub.cli import main
from hub.store import DeliveryState

from .cli_runner import AsyncSethub
from .process import query
from .support import RunningHub, Subscriber, until


async def _subscribe(hub: RunningHub, sub: Subscriber, topic: str) -> int:
    if await hub.store.topics.get(topic) is None:
        await hub.create_topic(topic, b"initial")
    url = hub.topic_url(topic)
    status, text = await hub.subscribe(url, sub.callback)
    assert status == 202, text
    await until(lambda: hub.store.subscriptions.get(topic=url, callback=sub.callback))
    found = await hub.store.subscriptions.get(topic=url, callback=sub.callback)
    assert found is not None
    return found.id


async def _unsubscribe(hub: RunningHub, sub: Subscriber, topic: str) -> None:
    url = hub.topic_url(topic)
    status, text = await hub.unsubscribe(url, sub.callback)
    assert status == 202, text
    await until(_gone(hub, url, sub))


def _gone(hub: RunningHub, url: str, sub: Subscriber) -> Callable[[], Any]:
    async def check() -> bool:
        return await hub.store.subscriptions.get(topic=url, callback=sub.callback) is None

    return check


def _no_pending(hub: RunningHub) -> Callable[[], bool]:
    sql = "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
    return lambda: query(hub.settings.db, sql) == [(0,)]


def _idle(hub: RunningHub) -> Callable[[], bool]:
    """No delivery task and no outcome waiting to be written."""
    dispatcher = hub.server.app[DISPATCHER]
    return lambda: dispatcher.free_slots() == dispatcher.capacity


async def test_ids_are_not_reused_after_an_unsubscribe_or_a_purge(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub()
    first, second = await make_subscriber(), await make_subscriber()
    first_id = await _subscribe(hub, first, "alpha")
    await hub.publish_content("alpha", b"one")
    await until(lambda: first.deliveries)
    await until(_idle(hub))
    ids = query(hub.settings.db, "SELECT MAX(e.id), MAX(d.id) FROM events e, deliveries d")[0]
    await _unsubscribe(hub, first, "alpha")
    # As after the retention period: the delivery, its event and the ended subscription go.
    await hub.store.deliveries.purge_finished(older_than=time.time() + 1)
    assert query(hub.settings.db, "SELECT COUNT(*) FROM deliveries") == [(0,)]

    second_id = await _subscribe(hub, second, "beta")
    assert second_id > first_id
    await hub.publish_content("beta", b"two")
    await until(lambda: second.deliveries)
    event_id, delivery_id = query(
        hub.settings.db, "SELECT MAX(e.id), MAX(d.id) FROM events e, deliveries d"
    )[0]
    assert event_id > ids[0] and delivery_id > ids[1]  # type: ignore[operator]


async def test_operator_retry_never_sends_an_ended_subscriptions_delivery_elsewhere(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any], sethub_async: AsyncSethub
) -> None:
    """D1 (a): A's delivery is dead-lettered, A unsubscribes, B subscribes to another topic,
    and the operator re-queues every dead delivery."""
    hub = await make_hub(retry_schedule=[0.05])
    a = await make_subscriber(deliver_status=500)
    b = await make_subscriber()
    a_id = await _subscribe(hub, a, "alpha")
    await hub.publish_content("alpha", b"for A only")
    await until(lambda: query(hub.settings.db, "SELECT state FROM deliveries") == [("dead",)])
    await _unsubscribe(hub, a, "alpha")
    b_id = await _subscribe(hub, b, "beta")
    listed = await hub.store.deliveries.listing(state=DeliveryState.DEAD)  # `deliveries list`
    done = await sethub_async("deliveries", "retry", "--db", str(hub.settings.db), "--all")
    await hub.publish_content("beta", b"for B")
    await until(lambda: b.deliveries)
    await until(_no_pending(hub))
    await until(_idle(hub))
    assert [d.body for d in b.deliveries] == [b"for B"]

    assert b_id != a_id
    (row,) = listed
    assert row["callback"] == a.callback and row["topic"] == hub.topic_url("alpha")
    assert "re-queued 0 deliveries" in done.stdout, done.stdout
    assert "subscription has ended" in done.stdout + done.stderr
    assert query(
        hub.settings.db, "SELECT state FROM deliveries WHERE subscription_id = ?", a_id
    ) == [("dead",)]


async def test_an_outcome_arriving_after_an_unsubscribe_does_not_revive_the_delivery(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """D1 (b), no operator: A unsubscribes while a failing attempt to A is in flight, and B
    subscribes at once. The failure's settlement must not bring A's delivery back to life (it
    would be retried to whoever holds A's id)."""
    hub = await make_hub(retry_schedule=[0.3, 0.3])
    a = await make_subscriber(deliver_status=500, delay=1.0)
    b = await make_subscriber()
    a_id = await _subscribe(hub, a, "alpha")
    await hub.publish_content("alpha", b"for A only")
    await until(lambda: a.active == 1)  # the attempt is in flight
    await _unsubscribe(hub, a, "alpha")
    b_id = await _subscribe(hub, b, "beta")
    assert a.active == 1, "B must subscribe while A's attempt is still in flight"
    await until(lambda: a.active == 0)
    await until(_idle(hub))
    await until(_no_pending(hub), timeout=5)
    await until(_idle(hub))
    await hub.publish_content("beta", b"for B")
    await until(lambda: b.deliveries)
    await until(_no_pending(hub))
    assert [d.body for d in b.deliveries] == [b"for B"]
    assert len(a.deliveries) == 1
    states = query(hub.settings.db, "SELECT subscription_id, state FROM deliveries ORDER BY id")
    assert states == [(a_id, "cancelled"), (b_id, "delivered")]


async def test_deliveries_claimed_ahead_are_not_sent_once_the_subscription_has_ended(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """Sending checks that the subscription is still the active one: deliveries claimed while
    A was subscribed, waiting their turn behind a slow attempt, are cancelled, not sent."""
    hub = await make_hub(max_concurrent_per_subscription=1)
    a = await make_subscriber(delay=0.5)
    await _subscribe(hub, a, "alpha")
    for n in range(4):
        await hub.publish_content("alpha", f"e{n}".encode())
    await until(lambda: a.active == 1)
    await _unsubscribe(hub, a, "alpha")
    await until(lambda: a.active == 0)
    await until(_idle(hub))
    assert len(a.deliveries) == 1
    # The one in flight was cancelled too: its outcome arrived after the subscription ended.
    assert query(hub.settings.db, "SELECT DISTINCT state FROM deliveries") == [("cancelled",)]


async def test_retry_reports_each_id_it_did_not_requeue(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any], sethub_async: AsyncSethub
) -> None:
    """Walkthrough 19: unknown ids, deliveries that are not dead and deliveries of an ended
    subscription are each named, with a non-zero exit; the others are re-queued."""
    hub = await make_hub(retry_schedule=[])
    ended_sub = await make_subscriber(deliver_status=500)
    failing = await make_subscriber(deliver_status=500)
    fine = await make_subscriber()
    subscriptions = [await _subscribe(hub, s, "alpha") for s in (ended_sub, failing, fine)]
    await hub.publish_content("alpha", b"x")
    await until(
        lambda: (
            len(
                query(
                    hub.settings.db, "SELECT 1 FROM deliveries WHERE state IN ('dead', 'delivered')"
                )
            )
            == 3
        )
    )
    rows = dict(query(hub.settings.db, "SELECT subscription_id, id FROM deliveries"))
    ended_id, dead_id, delivered_id = (rows[s] for s in subscriptions)
    await _unsubscribe(hub, ended_sub, "alpha")
    unknown = int(max(rows.values())) + 1000  # type: ignore[call-overload]

    done = await sethub_async(
        "deliveries",
        "retry",
        "--db",
        str(hub.settings.db),
        *(str(i) for i in (unknown, delivered_id, ended_id, dead_id)),
    )
    report = done.stdout + done.stderr
    assert done.returncode != 0, report
    assert "re-queued 1 deliveries" in done.stdout, report
    assert f"{unknown}: no such delivery" in report
    assert f"{delivered_id}: not dead (delivered)" in report
    assert f"{ended_id}: its subscription has ended" in report
    assert query(hub.settings.db, "SELECT state FROM deliveries WHERE id = ?", dead_id) != [
        ("dead",)
    ]


def test_list_refuses_a_limit_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    """Walkthrough 19: `--limit -1` printed nothing at all."""
    with pytest.raises(SystemExit) as exit_:
        main(["deliveries", "list", "--limit", "-1"])
    assert exit_.value.code == 2
    assert "--limit: -1 is not a positive number" in capsys.readouterr().err


def _old_database(path: Path) -> None:
    """A database as sethub wrote it before migration 4 (ids reused, no foreign key to the
    subscription): built with the first three migrations, the ones that shipped."""
    import sqlite3

    from hub.store.sqlite.schema import MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in (part.strip() for part in script.split(";")):
            if statement:
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    sub = (
        "INSERT INTO subscriptions (id, topic, callback, secret, lease_seconds, expires_at,"
        " created_at, updated_at, callback_host) VALUES (?, ?, ?, NULL, 600, 9e9, ?, ?, 'h')"
    )
    conn.execute(sub, (1, "https://h/topics/alpha", "https://a.example/cb", 100.0, 100.0))
    # id 2 was A's on topic beta; A left, and C got id 2 again on topic gamma (the reuse bug)
    conn.execute(sub, (2, "https://h/topics/gamma", "https://c.example/cb", 300.0, 300.0))
    event = "INSERT INTO events (id, topic, content_type, body, created_at) VALUES (?, ?, ?, ?, ?)"
    conn.execute(event, (1, "https://h/topics/alpha", "text/plain", b"alpha", 150.0))
    conn.execute(event, (2, "https://h/topics/beta", "text/plain", b"beta", 200.0))
    conn.execute(event, (3, "https://h/topics/gamma", "text/plain", b"gamma", 350.0))
    delivery = (
        "INSERT INTO deliveries (id, event_id, subscription_id, state, attempts,"
        " next_attempt_at, body, created_at, updated_at, claimed_by, claim_expires)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    conn.execute(delivery, (1, 1, 1, "delivered", 1, 150.0, None, 150.0, 151.0, None, None))
    conn.execute(delivery, (2, 2, 2, "dead", 3, 200.0, b"old SET", 200.0, 260.0, None, None))
    conn.execute(delivery, (3, 3, 2, "pending", 0, 350.0, None, 350.0, 350.0, "node", 9e9))
    conn.execute(delivery, (4, 1, 7, "dead", 3, 150.0, None, 150.0, 160.0, None, None))
    conn.execute(delivery, (5, 2, 2, "pending", 1, 400.0, None, 200.0, 260.0, None, None))
    conn.execute(
        "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration,"
        " status, error, outcome) VALUES (2, 3, 250.0, 0.1, 500, 'HTTP 500', 'failed')"
    )
    conn.close()


async def test_migration_keeps_the_data_and_detaches_deliveries_of_reused_ids(
    tmp_path: Path,
) -> None:
    from hub.store import open_store

    db = tmp_path / "old.db"
    _old_database(db)
    store = await open_store(db)
    try:
        deliveries = query(
            db, "SELECT id, subscription_id, state, body FROM deliveries ORDER BY id"
        )
        ((attempts,),) = query(db, "SELECT COUNT(*) FROM delivery_attempts")
        violations = query(db, "PRAGMA foreign_key_check")
        ((ddl,),) = query(db, "SELECT sql FROM sqlite_master WHERE name = 'deliveries'")
        assert [tuple(row) for row in deliveries] == [
            (1, 1, "delivered", None),
            (2, None, "dead", b"old SET"),  # beta's delivery is not C's
            (3, 2, "pending", None),  # gamma's is
            (4, None, "dead", None),  # subscription 7 is gone
            (5, None, "cancelled", None),  # beta's again: never sent to C
        ]
        assert attempts == 1 and violations == []
        assert "REFERENCES subscriptions" in ddl
        now = time.time()
        new = await store.subscriptions.activate(
            topic="https://h/topics/delta",
            callback="https://d.example/cb",
            secret=None,
            lease_seconds=600,
            now=now,
        )
        assert new.id > 7  # above every id a delivery ever named
        report = await store.deliveries.requeue([2, 4], now=now)
        assert report.requeued == [] and sorted(report.ended) == [2, 4]
    finally:
        await store.close()
