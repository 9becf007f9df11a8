"""/healthz and /metrics answer in constant time, and the delivery counts they show stay exact.

The large case is a real hub on a real 2,000,000-delivery database, built with one INSERT ...
SELECT over a recursive CTE (the schema's triggers run for every row, as in use): about 8 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.store import open_store
from hub.store.sqlite.database import _statements
from hub.store.sqlite.schema import MIGRATIONS

from .support import RunningHub, start_hub, stop_hub, until

ROWS = 2_000_000
PENDING_EVERY = 50  # 2% pending, as in the review's measurement; the rest delivered
BOUND = 0.020  # seconds: what the issue asks of both endpoints at this size
ANSWERS = 5


def _build(path: Path) -> None:
    asyncio.run(_create_schema(path))
    conn = sqlite3.connect(path, isolation_level=None)
    now = time.time()
    try:
        # Not due for a long time, and too recent to be purged: nothing else touches them.
        conn.execute("PRAGMA journal_mode = DELETE")  # one write of each page, not two (WAL)
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO events (topic, kind, content_type, body, created_at)"
            " VALUES ('t', 'content', 'text/plain', x'00', ?)",
            (now,),
        )
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO deliveries (event_id, subscription_id, state, next_attempt_at,"
            " created_at, updated_at) "
            "SELECT 1, i / 20000, CASE WHEN i % ? THEN 'delivered' ELSE 'pending' END, ?, ?, ? "
            "FROM n",
            (ROWS, PENDING_EVERY, now + 10 * 365 * 86400, now, now),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


async def _create_schema(path: Path) -> None:
    store = await open_store(path)
    await store.close()


@pytest.fixture
def big_database(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    _build(path)
    return path


async def _timed_get(hub: RunningHub, path: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    async with hub.session.get(f"{hub.settings.base_url}{path}") as reply:
        text = await reply.text()
    return time.perf_counter() - started, reply.status, text


async def test_healthz_and_metrics_answer_fast_on_two_million_deliveries(
    big_database: Path,
) -> None:
    hub = await start_hub(big_database.parent)  # the hub opens <dir>/hub.db: the big one
    try:
        pending = ROWS // PENDING_EVERY
        for path in ("/healthz", "/metrics"):
            timings = []
            for _ in range(ANSWERS):
                elapsed, status, text = await _timed_get(hub, path)
                assert status == 200, text
                timings.append(elapsed)
            # The median: one answer may wait behind the janitor's start-up sweep.
            assert statistics.median(timings) < BOUND, (path, timings)
        assert _gauge(text, 'sethub_deliveries{state="pending"}') == pending
        assert _gauge(text, 'sethub_deliveries{state="delivered"}') == ROWS - pending
    finally:
        await stop_hub(hub)


def _gauge(exposition: str, series: str) -> float:
    (value,) = [line.split()[-1] for line in exposition.splitlines() if line.startswith(series)]
    return float(value)


async def test_counts_follow_every_change_of_state(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    """Stored, delivered, dead-lettered, retried by an operator, cancelled, purged: the counts
    the triggers keep match a count of the table at every step."""

    def counted() -> dict[str, int]:
        with sqlite3.connect(hub.settings.db, timeout=5) as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
            return {state: count for state, count in rows}

    async def matches() -> bool:
        kept = {state: n for state, n in (await hub.store.deliveries.counts()).items() if n}
        return kept == counted()

    ok = await make_subscriber()
    failing = await make_subscriber(deliver_status=500)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    for sub in (ok, failing):
        await hub.subscribe(topic, sub.callback)
        await until(lambda s=sub: hub.store.subscriptions.get(topic=topic, callback=s.callback))
    for n in range(5):
        await hub.publish_content("news", f"post {n}".encode())
    await until(lambda: counted() == {"delivered": 5, "dead": 5})
    assert await matches()

    assert len((await hub.store.deliveries.requeue(None, now=time.time())).requeued) == 5
    assert await matches()
    status, _ = await hub.unsubscribe(topic, failing.callback)
    assert status == 202
    await until(lambda: "pending" not in counted())
    assert await matches()

    with sqlite3.connect(hub.settings.db, timeout=5) as operator:  # a cascade from events
        operator.execute("PRAGMA foreign_keys = ON")
        operator.execute("DELETE FROM events WHERE id = (SELECT MIN(event_id) FROM deliveries)")
    assert await matches()
    assert sum(counted().values()) == 8


async def test_a_database_from_before_the_counts_is_counted_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    counting = next(n for n, script in enumerate(MIGRATIONS) if "delivery_counts" in script)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:  # as it was
        for script in MIGRATIONS[:counting]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {counting}")
        conn.execute(
            "INSERT INTO events (topic, content_type, body, created_at)"
            " VALUES ('t', 'text/plain', x'00', 0)"
        )
        conn.executemany(
            "INSERT INTO deliveries (event_id, subscription_id, state, next_attempt_at,"
            " created_at, updated_at) VALUES (1, 1, ?, 0, 0, 0)",
            [("delivered",)] * 3 + [("dead",)] * 2 + [("pending",)],
        )
    store = await open_store(path)
    try:
        assert await store.deliveries.counts() == {
            "pending": 1, "delivered": 3, "dead": 2, "cancelled": 0
        }
    finally:
        await store.close()
