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

SQLite errors that mean the database cannot work now (locked, full, I/O) leave as
`StoreUnavailableError`; the latest such write failure is kept as the store's `health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import StoreHealth, StoreOpenError, StoreUnavailableError
from ..health import HealthWatch
from ..migrations import MIGRATIONS
from ..migrations import pending as pending_migrations
from ..migrations import status as schema_status
from ..records import SchemaStatus
from .legacy import complete_schema_1, finish_subscribe_first_4, is_subscribe_first_4

__all__ = ["DEFAULT_BUSY_TIMEOUT", "Connection", "Database", "StoreOpenError"]

log = logging.getLogger("sethub.store")

# Seconds a write waits for another connection's lock (an operator's CLI, a backup) to go.
DEFAULT_BUSY_TIMEOUT = 5.0
PRIVATE_FILE_MODE = 0o600
# Files SQLite keeps beside the database; they hold the same data.
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")

T = TypeVar("T")
Connection = sqlite3.Connection
Clock = Callable[[], float]

# Primary result codes that mean "the database cannot do this now", with sqlite3_errstr()'s words
# for them (fixed words: an error message may say more than a health probe should). Any other
# code (SQLITE_ERROR for a bad statement, SQLITE_CONSTRAINT for a broken rule) is a bug and stays
# a sqlite3 error.
UNAVAILABLE: dict[int, str] = {
    sqlite3.SQLITE_BUSY: "database is locked",
    sqlite3.SQLITE_LOCKED: "database table is locked",
    sqlite3.SQLITE_NOMEM: "out of memory",
    sqlite3.SQLITE_READONLY: "attempt to write a readonly database",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_CORRUPT: "database disk image is malformed",
    sqlite3.SQLITE_FULL: "database or disk is full",
    sqlite3.SQLITE_CANTOPEN: "unable to open database file",
    sqlite3.SQLITE_PROTOCOL: "locking protocol",
    sqlite3.SQLITE_NOTADB: "file is not a database",
}


class Database:
    def __init__(
        self,
        connection: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        path: Path,
        *,
        clock: Clock = time.time,
    ):
        self._connection = connection
        self._executor = executor
        self._watch = HealthWatch(clock)  # updated on the store's thread
        self.path = path

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        max_bytes: int = 0,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Clock = time.time,
        migrate: bool = True,
    ) -> Database:
        """Open (creating the file if missing) and, unless told not to, bring the schema up to
        date; StoreOpenError says why it cannot."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sethub-store")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(
                executor, _connect, path, max_bytes, busy_timeout
            )
        except StoreOpenError:
            executor.shutdown(wait=False)
            raise
        except (OSError, sqlite3.Error) as exc:
            executor.shutdown(wait=False)
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        database = cls(connection, executor, path, clock=clock)
        try:
            await (database.migrate() if migrate else database.schema_status())
        except (sqlite3.Error, StoreUnavailableError) as exc:
            await database.close()
            raise StoreOpenError(f"cannot use database {path}: {exc}") from exc
        except StoreOpenError:
            await database.close()
            raise
        return database

    @property
    def health(self) -> StoreHealth:
        """Why the latest write failed, until a later write changes data (a poll that changes
        nothing, or a claim's lease rewritten in place, shows nothing: a full database still
        allows those) or, with no such write, for FAILURE_REPORTED_FOR seconds."""
        return self._watch.health

    async def run(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """`work` as one write transaction (BEGIN IMMEDIATE ... COMMIT; rolled back if it
        raises). If the caller is cancelled, the transaction still completes or rolls back
        whole on the store's thread.

        `durable=False` skips the fsync at commit: the commit survives a crash of the process
        but not a power cut, until the next durable commit syncs it along. Only for writes whose
        loss is harmless, like the lease of a claim (the work is claimed again).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write, work, durable)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """`work` on one consistent snapshot, writing nothing."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, _translated, _in_snapshot, self._connection, work
        )

    def _write(self, work: Callable[[Connection], T], durable: bool) -> T:
        """On the store's thread: the transaction, and what it shows of the store's health."""
        conn = self._connection
        changes = conn.total_changes
        transaction = _in_transaction if durable else _in_lazy_transaction
        try:
            result = _translated(transaction, conn, work)
        except StoreUnavailableError as exc:
            self._watch.write_failed(str(exc))
            raise
        if durable and conn.total_changes != changes:
            self._watch.data_written()
        return result

    async def schema_status(self) -> SchemaStatus:
        (version,) = await self.read(lambda conn: conn.execute("PRAGMA user_version").fetchone())
        return schema_status(int(version))

    async def migrate(self) -> list[int]:
        """Apply the pending migrations in one transaction; their numbers."""
        return await self.run(lambda conn: _migrate(conn, self.path))

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


def _connect(path: Path, max_bytes: int, busy_timeout: float) -> sqlite3.Connection:
    _create_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, round(busy_timeout * 1000))}")
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


Wrapper = Callable[[Connection, Callable[[Connection], T]], T]


def _translated(wrapper: Wrapper[T], conn: Connection, work: Callable[[Connection], T]) -> T:
    """Run `wrapper(conn, work)`; a database that cannot work now leaves as the store's error."""
    try:
        return wrapper(conn, work)
    except sqlite3.Error as exc:
        reason = UNAVAILABLE.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
        if reason is None:
            raise
        raise StoreUnavailableError(reason) from exc


def _in_transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        _roll_back(conn)
        raise
    return result


def _roll_back(conn: Connection) -> None:
    """End what is left of a failed transaction without hiding why it failed.

    A failed COMMIT (a deferred foreign key, SQLITE_BUSY) leaves the transaction open, and every
    later BEGIN would fail while it is. After SQLITE_FULL or SQLITE_IOERR SQLite may have rolled
    back already, and a ROLLBACK would raise "no transaction is active" in place of the cause.
    """
    if not conn.in_transaction:
        return
    try:
        conn.rollback()
    except sqlite3.Error as exc:  # the caller's error is the one to raise
        log.error("cannot roll back a failed transaction: %s", exc)


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
        _roll_back(conn)


# The number of the table rebuild that fences claims, and of the migration it was swapped with
# (see `legacy.finish_subscribe_first_4`).
REBUILD, SUBSCRIBE = 4, 5


def _migrate(conn: Connection, path: Path) -> list[int]:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    applied = []
    if version == REBUILD and is_subscribe_first_4(conn):
        finish_subscribe_first_4(conn, _statements(MIGRATIONS[REBUILD - 1].sqlite))
        conn.execute(f"PRAGMA user_version = {SUBSCRIBE}")
        version = SUBSCRIBE
        applied.append(REBUILD)
    for migration in pending_migrations(version, database=str(path)):
        if migration.number == 2:
            complete_schema_1(conn)  # a file made while migration 1 still grew
        for statement in _statements(migration.sqlite):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {migration.number}")
        applied.append(migration.number)
    return applied


def _statements(script: str) -> list[str]:
    """The statements of a migration script, in order. A `;` ends a statement only where SQLite
    agrees one is complete, so a trigger's body or a string or comment holding `;` stays whole."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    rest = pending[:-1].strip()  # the last piece got a `;` it did not have
    if rest:
        statements.append(rest)
    return statements
