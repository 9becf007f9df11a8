"""A pool of asyncpg connections to one PostgreSQL database; every unit of work is one transaction.

A repository method hands `run` (a write transaction) or `read` an async function of a connection,
as the SQLite store hands its thread a plain function: the function's statements are the whole
transaction, committed when it returns and rolled back if it raises. Unlike SQLite's single
writer, several transactions run at once (one per pooled connection) and several hub nodes may
share the database, so work is claimed with `FOR UPDATE SKIP LOCKED` and fenced by leases, never
by "only one writer at a time".

A deadlock or a serialization failure between concurrent transactions is retried a few times:
the work functions only talk to the database, so running one again is safe. A database that is
down, refuses connections, is shutting down or is out of space raises `StoreUnavailableError`
(the hub answers 503); every query has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from ...database_url import PostgresURL
from ..errors import StoreHealth, StoreOpenError, StoreUnavailableError
from ..health import HealthWatch

__all__ = ["Connection", "PostgresDatabase"]

log = logging.getLogger("sethub.store")

T = TypeVar("T")
Connection = asyncpg.Connection
Work = Callable[[Connection], Awaitable[T]]

POOL_MIN_SIZE = 1
# Transactions in flight at once from one node: the publish and settlement group commits, a
# claim or two, the janitor and the operator endpoints rarely need more.
POOL_MAX_SIZE = 8
CONNECT_TIMEOUT_SECONDS = 10.0
# No statement of the hub's takes near this long; one that does is stuck behind a lock.
STATEMENT_TIMEOUT_SECONDS = 30.0
RETRIES_ON_CONFLICT = 3
_BEGIN_NOT_DURABLE = "BEGIN; SET LOCAL synchronous_commit TO OFF"

# Errors that mean "the database cannot do this now", with words safe to show an operator.
_UNAVAILABLE: tuple[tuple[type[BaseException], str], ...] = (
    (asyncpg.DiskFullError, "database or disk is full"),
    (asyncpg.InsufficientResourcesError, "the database is out of resources"),
    (asyncpg.ReadOnlySQLTransactionError, "the database is read-only"),
    (asyncpg.QueryCanceledError, "a database statement timed out or was cancelled"),
    (asyncpg.OperatorInterventionError, "the database is shutting down or restarting"),
    (asyncpg.PostgresConnectionError, "cannot reach the database"),
    (asyncpg.InterfaceError, "the connection to the database was lost"),
    (TimeoutError, "the database did not answer in time"),
    (OSError, "cannot reach the database"),
)
_CONFLICTS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def unavailable_reason(exc: BaseException) -> str | None:
    for kind, reason in _UNAVAILABLE:
        if isinstance(exc, kind):
            return reason
    return None


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool, url: PostgresURL, clock: Callable[[], float]) -> None:
        self._pool = pool
        self._watch = HealthWatch(clock)
        self.url = url

    @classmethod
    async def open(cls, url: PostgresURL, *, clock: Callable[[], float]) -> PostgresDatabase:
        """Connect; StoreOpenError (naming the URL without its password) if that fails."""
        try:
            pool = await asyncpg.create_pool(
                url.dsn,
                min_size=POOL_MIN_SIZE,
                max_size=POOL_MAX_SIZE,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=STATEMENT_TIMEOUT_SECONDS,
                reset=_nothing_to_reset,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreOpenError(f"cannot open database {url}: {_describe(exc)}") from exc
        return cls(pool, url, clock)

    @property
    def health(self) -> StoreHealth:
        """Why the latest write failed, until a later write succeeds or, with none, for
        `health.FAILURE_REPORTED_FOR` seconds."""
        return self._watch.health

    async def run(self, work: Work[T], *, durable: bool = True) -> T:
        """`work` as one transaction, retried on a deadlock or serialization failure.

        `durable=False` commits without waiting for the server's WAL flush (synchronous_commit
        off for this transaction): it survives a crash of the hub, not of the database server.
        Only for writes whose loss is harmless, like the lease of a claim.
        """
        return await self._retried(
            lambda: self._transaction(work, durable), "transaction", durable=durable
        )

    async def write(self, query: str, *args: object) -> list[asyncpg.Record]:
        """One statement that writes, as its own transaction (one round trip: no BEGIN and
        COMMIT), retried on a deadlock or serialization failure as `run` is."""
        return await self._retried(
            lambda: self._with_connection(lambda conn: conn.fetch(query, *args)),
            "statement",
            durable=True,
        )

    async def _retried(
        self, attempt_once: Callable[[], Awaitable[T]], what: str, *, durable: bool
    ) -> T:
        """Try again on a deadlock or serialization failure (the work only talks to the
        database); a lost server shows in health until a later durable write succeeds."""
        for attempt in range(1, RETRIES_ON_CONFLICT + 1):
            try:
                result = await attempt_once()
            except StoreUnavailableError as exc:
                self._watch.write_failed(str(exc))
                raise
            except _CONFLICTS:
                if attempt == RETRIES_ON_CONFLICT:
                    raise
                log.info("%s conflict, retrying (%d)", what, attempt)
            else:
                if durable:
                    self._watch.data_written()
                return result
        raise RuntimeError("unreachable")  # the loop returns or raises

    async def read(self, work: Work[T]) -> T:
        """`work` on one consistent snapshot (a read-only repeatable-read transaction)."""

        async def snapshot(conn: Connection) -> T:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await work(conn)

        return await self._with_connection(snapshot)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        """One statement in its own transaction (autocommit): one round trip."""
        return await self._with_connection(lambda conn: conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        return await self._with_connection(lambda conn: conn.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: object) -> Any:
        """The first column of the first row of one statement (None if no row)."""
        return await self._with_connection(lambda conn: conn.fetchval(query, *args))

    async def execute(self, query: str, *args: object) -> str:
        """One statement; its status tag (`UPDATE 3`)."""
        return await self._with_connection(lambda conn: conn.execute(query, *args))

    async def _transaction(self, work: Work[T], durable: bool) -> T:
        async def transaction(conn: Connection) -> T:
            async with conn.transaction():
                return await work(conn)

        async def not_durable(conn: Connection) -> T:
            # BEGIN and the SET in one round trip (as a transaction() block would take two):
            # claims and attempt starts, which run this way, are a good part of all
            # transactions.
            await conn.execute(_BEGIN_NOT_DURABLE)
            try:
                result = await work(conn)
            except BaseException:
                if not conn.is_closed():  # the pool's reset rolls back if this cannot
                    with contextlib.suppress(Exception):
                        await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            return result

        return await self._with_connection(transaction if durable else not_durable)

    async def _with_connection(self, work: Work[T]) -> T:
        try:
            async with self._pool.acquire() as conn:
                return await work(conn)
        except _CONFLICTS:
            raise
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            raise StoreUnavailableError(reason) from exc

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), STATEMENT_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("database connections did not close in time; terminating them")
            self._pool.terminate()


async def _nothing_to_reset(conn: Connection) -> None:
    """What a connection needs before going back to the pool, beyond the rollback of a
    transaction left open (which the pool does itself): nothing. The hub's work leaves no
    session state: its locks are the transaction's, its settings `SET LOCAL`, it opens no
    cursor and listens on no pooled connection. The default reset (advisory locks, cursors,
    LISTEN, settings) cost a round trip per transaction: a fifth of the statements at fan-out."""


def _describe(exc: BaseException) -> str:
    """The driver's message, which names neither the password nor data."""
    return str(exc) or type(exc).__name__


def rows_changed(status: str) -> int:
    """The count at the end of a command status tag: `UPDATE 3` -> 3."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0
