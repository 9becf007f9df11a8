"""One SQLite connection on a thread of its own; every unit of work is one call to that thread.

A repository method hands `run` (a write transaction) or `read` a plain function of the
connection. The whole function runs on the store's thread in one hop, so a transaction holds
the database for the time its statements take, never for the time the event loop takes to come
back to it between statements. (Per-statement hops, as with aiosqlite, kept the database busy
four times longer than its work under load: see bench/fanout.py in the commit history.) The
thread runs one function at a time, in submission order: transactions never interleave.

The database holds hub.secrets, token digests and every identity event, so its files are the
owner's alone (0600) whatever the umask: the hub creates the file itself before SQLite opens it,
and SQLite gives the -wal and -shm files it creates the mode of the database file. A missing
directory is an error, not created: a typo in the path must not start an empty hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .schema import MIGRATIONS

__all__ = ["Connection", "Database", "StoreOpenError"]

BUSY_TIMEOUT_MS = 5000
PRIVATE_FILE_MODE = 0o600
# Files SQLite keeps beside the database; they hold the same data.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
T = TypeVar("T")
Connection = sqlite3.Connection


class StoreOpenError(RuntimeError):
    """The database file cannot be opened or migrated; the message says why."""


class Database:
    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor, path: Path):
        self._connection = connection
        self._executor = executor
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, max_bytes: int = 0) -> Database:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sethub-store")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(executor, _connect, path, max_bytes)
        except StoreOpenError:
            executor.shutdown(wait=False)
            raise
        except (OSError, sqlite3.Error) as exc:
            executor.shutdown(wait=False)
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        database = cls(connection, executor, path)
        try:
            await database.run(lambda conn: _migrate(conn, path))
        except sqlite3.Error as exc:
            await database.close()
            raise StoreOpenError(f"cannot use database {path}: {exc}") from exc
        except StoreOpenError:
            await database.close()
            raise
        return database

    async def run(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """`work` as one write transaction (BEGIN IMMEDIATE ... COMMIT; rolled back if it
        raises). If the caller is cancelled, the transaction still completes or rolls back
        whole on the store's thread.

        `durable=False` skips the fsync at commit: the commit survives a crash of the process
        but not a power cut, until the next durable commit syncs it along. Only for writes whose
        loss is harmless, like the lease of a claim (the work is claimed again).
        """
        return await self._call(_in_transaction if durable else _in_lazy_transaction, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """`work` on one consistent snapshot, writing nothing."""
        return await self._call(_in_snapshot, work)

    async def _call(
        self, wrapper: Callable[[Connection, Callable[[Connection], T]], T], work: Callable[..., T]
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, wrapper, self._connection, work)

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file and empty it: bytes that the last transactions
        overwrote are then gone from both files (used after sealing plaintext secrets)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _truncate_wal, self._connection)

    async def integrity_check(self) -> str:
        row = await self.read(lambda conn: conn.execute("PRAGMA integrity_check").fetchone())
        return str(row[0])

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._connection.close)
        self._executor.shutdown(wait=True)


def _create_private(path: Path) -> None:
    """Create the database file 0600 if it is missing, and take group and other access away
    from it and its side files if an older hub (or the umask) left them readable."""
    directory = path.parent
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise StoreOpenError(f"cannot open database {path}: {directory} {problem}")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(descriptor)
    for file in (path, *(path.with_name(path.name + s) for s in SIDE_FILE_SUFFIXES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            # Another user's file, shared on purpose through its group, stays as it is.
            with contextlib.suppress(PermissionError):
                file.chmod(mode & 0o700)


def _connect(path: Path, max_bytes: int) -> sqlite3.Connection:
    _create_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed publish survives power loss, not only a process crash.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if max_bytes:
            # Past this size writes fail with SQLITE_FULL, exactly like a full disk.
            (page_size,) = conn.execute("PRAGMA page_size").fetchone()
            conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _truncate_wal(conn: Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _in_transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _in_lazy_transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        return _in_transaction(conn, work)
    finally:
        conn.execute("PRAGMA synchronous = FULL")


def _in_snapshot(conn: Connection, work: Callable[[Connection], T]) -> T:
    conn.execute("BEGIN")
    try:
        return work(conn)
    finally:
        conn.execute("ROLLBACK")


def _migrate(conn: Connection, path: Path) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise StoreOpenError(f"database {path} has schema {version}, newer than this sethub knows")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
