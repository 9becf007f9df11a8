"""A write that fails, even at COMMIT, leaves the store usable and reports its real cause.

Real SQLite files and real failures: a deferred foreign key that fails only at COMMIT, a real
SQLITE_FULL from a database at its size cap (SQLite rolls the whole transaction back itself), and
a lock held by another connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.store import StoreUnavailableError
from hub.store.sqlite.database import Connection, Database

BLOB = 4000  # bytes per row: a few rows fill a page or more


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "hub.db")
    yield database
    await database.close()


def _violate_deferred_key(conn: Connection) -> None:
    """A delivery of an event that does not exist: checked only at COMMIT, which then fails."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.execute(
        "INSERT INTO deliveries (event_id, subscription_id, next_attempt_at, created_at,"
        " updated_at) VALUES (999, 1, 0, 0, 0)"
    )


def _add_event(conn: Connection, body: bytes = b"x") -> int:
    cursor = conn.execute(
        "INSERT INTO events (topic, content_type, body, created_at)"
        " VALUES ('t', 'text/plain', ?, 0)",
        (body,),
    )
    return int(cursor.lastrowid or 0)


def _count_events(conn: Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


async def test_a_failed_commit_rolls_back_and_the_store_keeps_working(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.run(_violate_deferred_key)
    # Before the fix the transaction stayed open: every later BEGIN failed for good.
    assert await db.run(_add_event) == 1
    assert await db.read(_count_events) == 1
    (orphans,) = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM deliveries").fetchone())
    assert orphans == 0


async def test_a_full_database_says_so_and_takes_writes_again_once_there_is_room(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "full.db", max_bytes=200_000)
    try:
        stored = 0
        with pytest.raises(StoreUnavailableError) as failure:
            for _ in range(200):
                await db.run(lambda c: [_add_event(c, b"x" * BLOB) for _ in range(3)])
                stored += 3
        # SQLite rolled back by itself; the cause is not hidden behind a failed ROLLBACK.
        assert str(failure.value) == "database or disk is full"
        assert "rollback" not in repr(failure.value.__cause__)
        assert stored and await db.read(_count_events) == stored
        assert db.health.failure == "database or disk is full"

        await db.run(lambda c: c.execute("DELETE FROM events WHERE id % 2 = 0"))
        await db.run(lambda c: _add_event(c, b"x" * BLOB))
        assert db.health.failure is None
        assert await db.read(_count_events) == stored - stored // 2 + 1
    finally:
        await db.close()


async def test_a_locked_database_fails_after_the_configured_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = await Database.open(path, busy_timeout=0.2)
    locker = sqlite3.connect(path, timeout=1)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="database is locked"):
            await db.run(_add_event)
        waited = time.monotonic() - started
        assert 0.15 < waited < 3.0  # the 0.2 s asked for, not the 5 s default
        assert db.health.failure == "database is locked"
        locker.rollback()
        await db.run(_add_event)
        assert db.health.failure is None
    finally:
        locker.close()
        await db.close()


async def test_a_programming_error_is_not_reported_as_unavailable(db: Database) -> None:
    """Only a database that cannot work now is 'unavailable'; a bad statement is a bug."""
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await db.run(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))
    assert db.health.failure is None
    assert await db.run(_add_event) == 1


async def test_writes_that_change_nothing_do_not_clear_a_failure(tmp_path: Path) -> None:
    """The dispatcher polls with write transactions that usually change nothing (and leases that
    rewrite rows in place): neither shows that the store takes new data again."""
    now = [1000.0]
    db = await Database.open(tmp_path / "full.db", max_bytes=200_000, clock=lambda: now[0])
    try:
        with pytest.raises(StoreUnavailableError):
            for _ in range(200):
                await db.run(lambda c: _add_event(c, b"x" * BLOB))
        assert db.health.failure == "database or disk is full"
        assert db.health.failed_at == 1000.0
        await db.run(lambda c: c.execute("UPDATE events SET topic = 't' WHERE id < 0"))
        await db.run(lambda c: c.execute("UPDATE events SET topic = 'u'"), durable=False)
        assert db.health.failure == "database or disk is full"
        # Unchallenged, a failure is reported for a while only: a hub taken out of rotation
        # because of it gets traffic again, and a write that still fails reports it anew.
        now[0] += 3600
        assert db.health.failure is None
    finally:
        await db.close()


async def test_migrations_keep_statements_whose_bodies_contain_semicolons(tmp_path: Path) -> None:
    from hub.store.sqlite.database import _statements

    script = """
    CREATE TABLE a (x TEXT DEFAULT 'one; two'); -- a comment; with a semicolon
    CREATE TRIGGER a_twice AFTER INSERT ON a BEGIN
        INSERT INTO a (x) SELECT 'copy' WHERE NEW.x <> 'copy';
    END;
    """
    statements = _statements(script)
    assert len(statements) == 2
    conn = sqlite3.connect(tmp_path / "m.db")
    for statement in statements:
        conn.execute(statement)
    conn.execute("INSERT INTO a (x) VALUES ('first')")
    assert conn.execute("SELECT x FROM a ORDER BY rowid").fetchall() == [("first",), ("copy",)]
    conn.close()
