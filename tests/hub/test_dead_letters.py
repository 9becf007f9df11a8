"""Operators list dead-lettered deliveries and re-queue them with `sethub deliveries`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hub.database_url import PostgresURL

from .process import run_sethub
from .support import until


async def test_list_and_retry_dead_deliveries(
    make_hub_each: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub_each(retry_schedule=[0.05])
    db = hub.settings.db.dsn if isinstance(hub.settings.db, PostgresURL) else str(hub.settings.db)
    sub = await make_subscriber(deliver_status=500)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, sub.callback)
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    await hub.publish_content("news", b"first")
    await hub.publish_content("news", b"second")
    await until(lambda: _dead(hub, 2))

    listed = run_sethub("deliveries", "list", "--db", db, "--state", "dead")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 2
    assert {row["callback"] for row in rows} == {sub.callback}
    assert all(row["last_status"] == 500 and row["attempts"] == 2 for row in rows)
    assert "secret" not in listed.stdout

    sub.deliver_status = 202
    one = run_sethub("deliveries", "retry", "--db", db, str(rows[0]["id"]))
    assert one.returncode == 0 and "re-queued 1 deliveries" in one.stdout
    await until(lambda: _dead(hub, 1))
    rest = run_sethub("deliveries", "retry", "--db", db, "--all")
    assert "re-queued 1 deliveries" in rest.stdout
    await until(lambda: _delivered(hub, 2))
    assert {d.body for d in sub.deliveries if d.headers} >= {b"first", b"second"}


async def _dead(hub: Any, count: int) -> bool:
    return (await hub.store.deliveries.counts())["dead"] == count


async def _delivered(hub: Any, count: int) -> bool:
    return (await hub.store.deliveries.counts())["delivered"] == count


def test_retry_needs_ids_or_all(tmp_path: Any) -> None:
    done = run_sethub("deliveries", "retry", "--db", str(tmp_path / "x.db"))
    assert done.returncode == 2
