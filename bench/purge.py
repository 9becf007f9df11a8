"""The janitor's purge of finished work on a large store: time per sweep, with and without the
indexes of migration 8 (without them is the schema before it, statement for statement).

    python bench/purge.py [--rows 2000000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

The store holds `--rows` deliveries, ten per event, spread over the six days before now (inside
the seven-day retention: the steady state, where a sweep finds little to remove), 97% delivered,
2% cancelled, the rest dead or pending; an idempotency key per event; ten current subscriptions
and a thousand ended ones. Each schema is timed on sweeps that each find a tail of 1,000
finished deliveries (and their events) past the retention, added just before (what a sweep
removes in steady state), and on sweeps with nothing to remove (what finding nothing costs).
Each sweep is `Deliveries.purge_finished`, timed from the event loop. PostgreSQL (with
--postgres, a server URL: a database is created there and dropped at the end) is ANALYZEd
first, as autovacuum would have it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from hub.database_url import PostgresURL
from hub.store import Store, open_store

DAY = 24 * 3600.0
RETENTION = 7 * DAY
TAIL = 1_000
SWEEPS = 5
NEW_INDEXES = ("deliveries_finished", "events_by_age", "idempotency_keys_by_age")
TOPIC = "https://hub.example/topics/login"
Tail = Callable[[], Awaitable[None]]  # adds finished work past the retention

SQLITE_FILL = """
INSERT INTO subscriptions (topic, callback, lease_seconds, expires_at, created_at, updated_at,
    callback_host, ended_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1010)
SELECT :topic, 'https://s' || i || '.example/cb', 864000, :now + 864000, :now - 6 * 86400,
    :now, 's' || i || '.example', CASE WHEN i > 10 THEN :now - 86400 END FROM n;

INSERT INTO events (topic, kind, content_type, body, created_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :events)
SELECT :topic, 'identity', 'application/secevent+jwt', zeroblob(200),
    :now - 6 * 86400 * (1.0 - CAST(i AS REAL) / :events) FROM n;

INSERT INTO deliveries (event_id, subscription_id, state, attempts, next_attempt_at,
    created_at, updated_at, jti)
SELECT e.id, s.id,
    CASE WHEN (e.id * 10 + s.id) % 100 < 97 THEN 'delivered'
         WHEN (e.id * 10 + s.id) % 100 < 99 THEN 'cancelled'
         WHEN s.id % 2 = 0 THEN 'dead' ELSE 'pending' END,
    1, e.created_at, e.created_at, e.created_at + 1, lower(hex(randomblob(16)))
FROM events e CROSS JOIN (SELECT id FROM subscriptions WHERE id <= 10) s;

INSERT INTO idempotency_keys (key, response, created_at)
SELECT 'publisher:event:' || id, '{}', created_at FROM events;
"""

POSTGRES_FILL = """
INSERT INTO subscriptions (topic, callback, lease_seconds, expires_at, created_at, updated_at,
    callback_host, ended_at)
SELECT '{topic}', 'https://s' || i || '.example/cb', 864000, {now} + 864000,
    {now} - 6 * 86400, {now}, 's' || i || '.example',
    CASE WHEN i > 10 THEN {now} - 86400 END
FROM generate_series(1, 1010) AS i;

INSERT INTO events (topic, kind, content_type, body, created_at)
SELECT '{topic}', 'identity', 'application/secevent+jwt', convert_to(repeat('x', 200), 'UTF8'),
    {now} - 6 * 86400 * (1.0 - i::float8 / {events})
FROM generate_series(1, {events}) AS i;

INSERT INTO deliveries (event_id, subscription_id, state, attempts, next_attempt_at,
    created_at, updated_at, jti)
SELECT e.id, s.id,
    CASE WHEN (e.id * 10 + s.id) % 100 < 97 THEN 'delivered'
         WHEN (e.id * 10 + s.id) % 100 < 99 THEN 'cancelled'
         WHEN s.id % 2 = 0 THEN 'dead' ELSE 'pending' END,
    1, e.created_at, e.created_at, e.created_at + 1, md5(random()::text)
FROM events e CROSS JOIN (SELECT id FROM subscriptions WHERE id <= 10) s;

INSERT INTO idempotency_keys (key, response, created_at)
SELECT 'publisher:event:' || id, '{{}}', created_at FROM events;
"""

TAIL_SQL = """
INSERT INTO events (topic, kind, content_type, body, created_at)
SELECT '{topic}', 'identity', 'application/secevent+jwt', {blob}, {old}
FROM {series};
INSERT INTO deliveries (event_id, subscription_id, state, attempts, next_attempt_at,
    created_at, updated_at)
SELECT id, 1, 'delivered', 1, {old}, {old}, {old} FROM events WHERE created_at = {old};
"""


def sqlite_tail(now: float) -> str:
    series = f"(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {TAIL})"
    return TAIL_SQL.format(topic=TOPIC, blob="zeroblob(200)", old=now - RETENTION - DAY,
                           series=series + " SELECT i FROM n)")


def postgres_tail(now: float) -> str:
    return TAIL_SQL.format(topic=TOPIC, blob="convert_to(repeat('x', 200), 'UTF8')",
                           old=now - RETENTION - DAY, series=f"generate_series(1, {TAIL})")


async def sweeps(store: Store, add_tail: Tail | None, now: float) -> list[float]:
    """Milliseconds per sweep: each after a tail of finished work past the retention, or (with
    no `add_tail`) with nothing to remove, which is the cost of finding nothing."""
    times = []
    for _ in range(SWEEPS):
        if add_tail is not None:
            await add_tail()
        started = time.perf_counter()
        removed = await store.deliveries.purge_finished(older_than=now - RETENTION)
        times.append((time.perf_counter() - started) * 1000)
        expected = TAIL if add_tail is not None else 0
        if removed != expected:
            raise RuntimeError(f"a sweep removed {removed} deliveries, not {expected}")
    return times


async def measure(backend: str, schema: str, store: Store, add_tail: Tail, now: float) -> None:
    report(backend, schema, f"removing {TAIL:,}", await sweeps(store, add_tail, now))
    report(backend, schema, "removing none", await sweeps(store, None, now))


def report(backend: str, schema: str, what: str, times: list[float]) -> None:
    print(f"{backend:>8} {schema:>21} {what:>15}: median {statistics.median(times):8.1f} ms"
          f"  min {min(times):8.1f}  max {max(times):8.1f}  ({len(times)} sweeps)", flush=True)


async def sqlite_bench(rows: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="sethub-purge-"))
    try:
        await sqlite_sweeps(work / "hub.db", rows)
    finally:
        shutil.rmtree(work)


async def sqlite_sweeps(path: Path, rows: int) -> None:
    now = time.time()
    store = await open_store(path)
    await store.close()
    started = time.perf_counter()
    with sqlite3.connect(path) as conn:
        conn.executescript("PRAGMA journal_mode = WAL;")
        for statement in SQLITE_FILL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"topic": TOPIC, "now": now, "events": rows // 10})
    print(f"sqlite: {rows:,} deliveries stored in {time.perf_counter() - started:.0f} s",
          flush=True)

    def add_tail() -> None:
        with sqlite3.connect(path) as conn:
            conn.executescript(sqlite_tail(now))

    async def tail() -> None:
        await asyncio.to_thread(add_tail)

    for schema in ("migration 8 (indexes)", "before (no indexes)"):
        if schema.startswith("before"):
            with sqlite3.connect(path) as conn:
                for index in NEW_INDEXES:
                    conn.execute(f"DROP INDEX {index}")
        store = await open_store(path)
        try:
            await measure("sqlite", schema, store, tail, now)
        finally:
            await store.close()


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def postgres_bench(server: str, rows: int) -> None:
    database = f"sethub_bench_purge_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = with_database(server, database)
    now = time.time()
    try:
        store = await open_store(PostgresURL(url))
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            started = time.perf_counter()
            await conn.execute(POSTGRES_FILL.format(topic=TOPIC, now=now, events=rows // 10))
            await conn.execute("ANALYZE")
            print(f"postgres: {rows:,} deliveries stored in"
                  f" {time.perf_counter() - started:.0f} s", flush=True)

            async def tail() -> None:
                await conn.execute(postgres_tail(now))

            for schema in ("migration 8 (indexes)", "before (no indexes)"):
                if schema.startswith("before"):
                    for index in NEW_INDEXES:
                        await conn.execute(f"DROP INDEX {index}")
                store = await open_store(PostgresURL(url))
                try:
                    await measure("postgres", schema, store, tail, now)
                finally:
                    await store.close()
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    await sqlite_bench(args.rows)
    if args.postgres:
        await postgres_bench(args.postgres, args.rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="deliveries stored")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (else SQLite only)")
    asyncio.run(main(parser.parse_args()))
