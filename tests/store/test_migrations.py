"""One numbered migration list for both backends: files made by every earlier sethub upgrade in
place keeping their data; a database newer than the code is refused; nodes starting together on
a new PostgreSQL database migrate it once."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from hub.database_url import DatabaseLocation, PostgresURL
from hub.store import IntentMode, StoreOpenError, open_store
from hub.store.migrations import LATEST, _paired

from ..postgres import query as postgres_query
from .raw import rows

OLD = Path(__file__).resolve().parent / "old_databases"
TOPIC = "http://127.0.0.1:9/topics/news"
LATER = 1_800_000_010.0  # just after the files were made (see old_databases/make.py)


@pytest.mark.parametrize("made_by", sorted(p.name for p in OLD.glob("sethub-*.db")))
async def test_a_file_made_by_an_earlier_sethub_upgrades_keeping_its_data(
    made_by: str, tmp_path: Path
) -> None:
    path = tmp_path / "hub.db"
    shutil.copy(OLD / made_by, path)
    store = await open_store(path)
    try:
        assert (await store.schema_status()).version == LATEST
        topic = await store.topics.get("news")
        assert topic is not None and topic.content == b"hello"
        found = await store.tokens.find("d" * 64)
        assert found is not None and found[1].scope == "publish"
        a = await store.subscriptions.get(topic=TOPIC, callback="http://127.0.0.1:9/a")
        b = await store.subscriptions.get(topic=TOPIC, callback="http://127.0.0.1:9/b")
        assert a is not None and a.secret == b"old-secret"  # readable, whatever its old form
        assert b is not None and b.secret is None
        assert await store.subscriptions.count_for(now=0.0, host="127.0.0.1") == 2
        (intent,) = await store.intents.claim_due(owner="n", now=LATER, ttl=60, limit=5,
                                                  per_host=5)
        assert (intent.mode, intent.secret) == (IntentMode.SUBSCRIBE, b"intent-secret")
        await store.release_claims()  # the dead node's claim
        claimed = await store.deliveries.claim_due(owner="n", now=LATER, ttl=60, limit=10,
                                                   per_subscription=10)
        assert sorted((d.subscription_id, d.body) for d in claimed.deliveries) == [
            (a.id, b"first"), (a.id, b"second"), (b.id, b"first"), (b.id, b"second")
        ]
    finally:
        await store.close()
    assert await rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert await rows(path, "PRAGMA foreign_key_check") == []


async def test_a_new_database_reports_what_is_pending_then_migrates(
    database: DatabaseLocation,
) -> None:
    store = await open_store(database, migrate=False)
    try:
        status = await store.schema_status()
        assert (status.version, status.pending) == (0, tuple(range(1, LATEST + 1)))
        assert await store.migrate() == list(range(1, LATEST + 1))
        assert await store.migrate() == []
        assert (await store.schema_status()).pending == ()
    finally:
        await store.close()


async def _pretend_newer(database: DatabaseLocation) -> None:
    if isinstance(database, PostgresURL):
        await postgres_query(
            database,
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0) RETURNING version",
            LATEST + 1,
        )
    else:
        with sqlite3.connect(database) as conn:
            conn.execute(f"PRAGMA user_version = {LATEST + 1}")


async def test_a_database_newer_than_the_code_is_refused_untouched(
    database: DatabaseLocation,
) -> None:
    store = await open_store(database)
    await store.close()
    await _pretend_newer(database)
    with pytest.raises(StoreOpenError, match=f"schema version {LATEST + 1}, newer than"):
        await open_store(database)
    store = await open_store(database, migrate=False)
    try:
        status = await store.schema_status()
        assert status.newer_than_code and status.pending == ()
    finally:
        await store.close()


async def test_nodes_starting_together_migrate_a_new_database_once(
    postgres_url: PostgresURL,
) -> None:
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(3)))
    for store in stores:
        await store.close()
    applied = await postgres_query(postgres_url, "SELECT version FROM schema_migrations")
    assert sorted(applied) == [(n,) for n in range(1, LATEST + 1)]


def test_a_migration_needs_both_forms() -> None:
    assert [m.number for m in _paired(("a", "b"), ("A", "B"))] == [1, 2]
    with pytest.raises(RuntimeError, match="migration 3 has no PostgreSQL form"):
        _paired(("a", "b", "c"), ("A", "B"))
    with pytest.raises(RuntimeError, match="migration 2 has no SQLite form"):
        _paired(("a",), ("A", "B"))
