"""Which node of a hub runs the janitor's sweeps: the one holding the sweep lock.

The sweeps (expired subscriptions, failing ones disabled, finished work forgotten) are for the
whole database; several nodes running them at once would do the same work twice and disable, log
and count the same subscription on each. The node that takes a session-level advisory lock on a
connection of its own sweeps, and keeps the lock, and so the turn, while that connection lives;
the others try at each of their sweep intervals and take over within one once it is gone (a
killed node's session ends with its connection). A session lock, not a transaction's: the
sweeps are several transactions on the pool, and the turn must hold across all of them.
"""

from __future__ import annotations

import logging

import asyncpg

from .database import CONNECT_TIMEOUT_SECONDS, unavailable_reason

__all__ = ["SweepTurn"]

log = logging.getLogger("sethub.store")

CHECK_TIMEOUT_SECONDS = 5.0
APPLICATION_NAME = "sethub sweeps"  # how the connection shows in pg_stat_activity
_TAKE = "SELECT pg_try_advisory_lock(hashtext('sethub sweeps ' || current_schema()))"


class SweepTurn:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._holding = False

    async def mine(self) -> bool:
        """Whether this node sweeps now: it holds the lock, or has just taken it. False when
        the database cannot be reached (the sweeps could not run either)."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._holding = False
                self._conn = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            if self._holding:  # still ours while the session lives: check that it does
                await self._conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)
            else:
                self._holding = bool(
                    await self._conn.fetchval(_TAKE, timeout=CHECK_TIMEOUT_SECONDS)
                )
                if self._holding:
                    log.info("this node runs the sweeps")
        except Exception as exc:
            if unavailable_reason(exc) is None and not isinstance(exc, asyncpg.PostgresError):
                raise
            self._holding = False
            await self.close()
        return self._holding

    async def close(self) -> None:
        """Give the turn up (the lock goes with the session)."""
        conn, self._conn, self._holding = self._conn, None, False
        if conn is not None:
            conn.terminate()
