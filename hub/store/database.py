"""One SQLite connection, serialised, with explicit transactions and migrations.

aiosqlite runs every statement on one worker thread; the asyncio lock on top keeps the statements
of one transaction together, so two coroutines never interleave inside each other's BEGIN/COMMIT.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from .schema import MIGRATIONS

__all__ = ["Database", "StoreOpenError"]

BUSY_TIMEOUT_MS = 5000

# aiosqlite logs every statement with its parameters at DEBUG: hub.secrets and digests included.
# Those records must never exist, whatever log level an operator picks.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)


class StoreOpenError(RuntimeError):
    """The database file cannot be opened or migrated; the message says why."""


class Database:
    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, max_bytes: int = 0) -> Database:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        connection.row_factory = aiosqlite.Row
        database = cls(connection, path)
        try:
            await database._configure(max_bytes)
            await database._migrate()
        except sqlite3.Error as exc:
            await connection.close()
            raise StoreOpenError(f"cannot use database {path}: {exc}") from exc
        return database

    async def _configure(self, max_bytes: int) -> None:
        conn = self._connection
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed publish survives power loss, not only a process crash.
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        if max_bytes:
            # Past this size writes fail with SQLITE_FULL, exactly like a full disk.
            cursor = await conn.execute("PRAGMA page_size")
            (page_size,) = await cursor.fetchone()
            await conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")

    async def _migrate(self) -> None:
        async with self.transaction() as conn:
            cursor = await conn.execute("PRAGMA user_version")
            (version,) = await cursor.fetchone()
            if version > len(MIGRATIONS):
                raise StoreOpenError(
                    f"database {self.path} has schema {version}, newer than this sethub knows"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {number}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back if the block raises."""
        async with self._lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._connection

    async def integrity_check(self) -> str:
        async with self.reading() as conn:
            cursor = await conn.execute("PRAGMA integrity_check")
            row = await cursor.fetchone()
            return str(row[0])

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
