"""Wake-ups between the nodes of one hub: NOTIFY in the transaction that stores work, LISTEN on a
connection of each node's own.

A node that stores deliveries or intents also sends a notification in the same transaction, so
PostgreSQL delivers it at the commit (and never for a transaction rolled back). Every node listens
on a dedicated connection, outside the pool, and fires its store's `WorkSignal` when another
node's notification arrives, so that its dispatcher or verifier claims the work at once instead of
at its next poll. Its own notifications are ignored: its store fired the signal already.

Polling stays the fallback. If the listening connection drops (a database restart, a failover),
the node logs it once, keeps polling, and reconnects with growing delays; once back, it fires the
signal for every kind of work, since notifications sent meanwhile were lost.

The channel is named after the schema, so hubs on different schemas of one database never wake
each other (a channel name is at most 63 bytes, a schema name may be longer: a digest of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets

import asyncpg

from ..records import WorkKind
from ..signals import WorkSignal
from .database import CONNECT_TIMEOUT_SECONDS, Connection

__all__ = ["Notices", "WorkListener", "channel_for"]

log = logging.getLogger("sethub.store")

CHANNEL_PREFIX = "sethub_work_"
# How often the listening connection is checked when nothing arrives: a connection cut without a
# word (a network partition) is noticed within this, plus the check's own timeout.
CHECK_EVERY_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 5.0
# Delays between attempts to listen again, the last one repeated.
RECONNECT_DELAYS_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
# Other nodes' news of one kind of work wakes this node's worker at most this often (the first
# at once): a worker woken finds all the work stored until then.
COALESCE_SECONDS = 0.1
# How the connection shows in pg_stat_activity, for operators, followed by the channel's digest:
# the listening connections of one hub's nodes are how each node counts the nodes.
APPLICATION_NAME = "sethub listener"
_NODES = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name = $1 ORDER BY pid"
)


def channel_for(schema: str) -> str:
    """The channel of the hub whose tables live in `schema`."""
    return CHANNEL_PREFIX + hashlib.sha256(schema.encode()).hexdigest()[:16]


class Notices:
    """The sending side: a notification that `kind` of work was stored, from this node."""

    def __init__(self, channel: str, node: str | None = None) -> None:
        self.channel = channel
        self.node = node or secrets.token_hex(8)
        # This node's place among the hub's listening nodes, (index, count): each claims first
        # for its own share of the subscriptions (`.claims`). Kept by the listener; while it is
        # not listening, the node counts itself alone and claims for every subscription.
        self.place: tuple[int, int] = (0, 1)

    @property
    def application_name(self) -> str:
        """The listening connection's name: the nodes of one hub (one schema) share it."""
        return f"{APPLICATION_NAME} {self.channel.removeprefix(CHANNEL_PREFIX)}"

    def payload(self, kind: WorkKind) -> str:
        return f"{kind} {self.node}"

    async def send(self, conn: Connection, kind: WorkKind) -> None:
        """Inside the caller's transaction: it goes out when the transaction commits."""
        await conn.execute("SELECT pg_notify($1, $2)", self.channel, self.payload(kind))


class WorkListener:
    """LISTEN on a connection of its own, firing `signal` for other nodes' notifications."""

    def __init__(self, dsn: str, notices: Notices, signal: WorkSignal) -> None:
        self._dsn = dsn
        self._notices = notices
        self._signal = signal
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()  # set while a LISTEN is in place
        self._connected = False  # listened since the last failure
        self._quiet: set[WorkKind] = set()  # fired within COALESCE_SECONDS
        self._again: set[WorkKind] = set()  # heard of again meanwhile

    def start(self) -> None:
        """Start listening (in the background), unless already started."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sethub-work-listener")

    @property
    def place(self) -> tuple[int, int]:
        """This node's place among the hub's listening nodes, (index, count)."""
        return self._notices.place

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def wait_listening(self, timeout: float) -> None:
        await asyncio.wait_for(self._listening.wait(), timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        kind, _, node = payload.partition(" ")
        if node == self._notices.node:
            return
        try:
            work = WorkKind(kind)
        except ValueError:
            return  # not a notification of ours (a newer node's kind, or an operator's NOTIFY)
        self._wake(work)

    def _wake(self, kind: WorkKind) -> None:
        """Fire the signal at once, then at most once per `COALESCE_SECONDS` for that kind of
        work: under a stream of publishes on other nodes, each would otherwise cost this node
        a claim, mostly of nothing (another node holds those subscriptions' claims)."""
        if kind in self._quiet:
            self._again.add(kind)
            return
        self._signal.fire(kind)
        self._quiet.add(kind)
        asyncio.get_running_loop().call_later(COALESCE_SECONDS, self._window_over, kind)

    def _window_over(self, kind: WorkKind) -> None:
        self._quiet.discard(kind)
        if kind in self._again:
            self._again.discard(kind)
            self._wake(kind)

    async def _run(self) -> None:
        failures = 0  # attempts failed since the node last listened
        while True:
            try:
                await self._listen(missed=failures > 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any reason at all: keep polling, try again later
                if self._connected:
                    failures, self._connected = 0, False
                if failures == 0:
                    log.warning(
                        "not hearing other nodes' new work (%s): polling until listening again",
                        type(exc).__name__,
                    )
                delay = RECONNECT_DELAYS_SECONDS[min(failures, len(RECONNECT_DELAYS_SECONDS) - 1)]
                failures += 1
                await asyncio.sleep(delay)

    async def _listen(self, *, missed: bool) -> None:
        """Listen until the connection fails (raising), closing it on the way out. `missed`:
        notifications may have been lost since the last time (the signal is fired for all)."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": self._notices.application_name},
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(self._notices.channel, self._heard)
            await self._count_nodes(conn)
            self._listening.set()
            self._connected = True
            if missed:
                log.warning("hearing other nodes' new work again")
                for kind in WorkKind:  # what was stored meanwhile was not heard of
                    self._signal.fire(kind)
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), CHECK_EVERY_SECONDS)
                if lost.is_set():
                    raise ConnectionError("the listening connection was closed")
                await self._count_nodes(conn)
        finally:
            self._listening.clear()
            self._notices.place = (0, 1)
            conn.terminate()

    async def _count_nodes(self, conn: asyncpg.Connection) -> None:
        """Find this node's place among the listening nodes (and check the connection): a node
        that joins or leaves is counted within CHECK_EVERY_SECONDS."""
        pids = await conn.fetchval(
            f"SELECT array_agg(pid) FROM ({_NODES}) n",
            self._notices.application_name,
            timeout=CHECK_TIMEOUT_SECONDS,
        )
        pids = list(pids or ())
        own = conn.get_server_pid()
        self._notices.place = (pids.index(own), len(pids)) if own in pids else (0, 1)
