"""A stop with publishes in flight: every publisher is answered (202 once its events are stored)
or refused (503, shutting_down), no batch of a group commit or of the signer is left running, and
nothing asyncio reports as lost (a task destroyed while pending, an exception never retrieved).

The hub runs as `sethub serve` runs it: its app on an aiohttp AppRunner, stopped by the runner's
cleanup (listening sockets closed, on_shutdown, requests in flight given a grace, cleanup).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from hub.app import create_app
from hub.appkeys import SIGNER, STORE
from hub.database_url import DatabaseLocation, PostgresURL
from hub.intake.auth import create_token

from ..store.raw import rows
from .support import free_port, start_subscriber, until
from .support import test_settings as hub_settings

HTTP_GRACE = 1.0  # what aiohttp gives requests in flight after on_shutdown (serve: 5 s)
SHUTDOWN_TIMEOUT = 1.0  # --shutdown-timeout
SIGNING_SHUTDOWN_TIMEOUT = 0.3


@dataclass
class Served:
    runner: web.AppRunner
    base: str
    token: str
    reports: list[dict[str, Any]]  # what the event loop's exception handler was given

    async def publish(self, event_id: str) -> tuple[int | str, dict[str, Any] | None]:
        """POST one identity event on a connection of its own: the status and JSON answer, or
        the name of the error if no answer came."""
        event = {"type": "USER_LOGIN_FAILURE", "subject": {"format": "opaque", "id": "u1"},
                 "data": {"reason": "bad password"}, "id": event_id}
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession() as session:
            try:
                async with session.post(f"{self.base}/events", json=event,
                                        headers=headers) as reply:
                    return reply.status, await reply.json()
            except aiohttp.ClientError as exc:
                return type(exc).__name__, None

    def received(self) -> int:
        server = self.runner.server
        return server.requests_count if server is not None else 0


@asynccontextmanager
async def serving(
    tmp_path: Path, db: DatabaseLocation, shutdown_timeout: float = SHUTDOWN_TIMEOUT
) -> AsyncIterator[Served]:
    """The hub on loopback, as `sethub serve` runs it; the test stops it (runner.cleanup())."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reports.append(context))
    port = free_port()
    settings = hub_settings(db, port, keys_dir=tmp_path / "keys",
                             shutdown_timeout=shutdown_timeout, publish_rate=0)
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None,
                           shutdown_timeout=HTTP_GRACE)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        token = await create_token(runner.app[STORE], scope="publish", label="t", now=time.time())
        yield Served(runner, settings.base_url, token, reports)
    finally:
        await runner.cleanup()  # a no-op once the test has stopped it
        loop.set_exception_handler(previous)


def left_running() -> list[str]:
    """Tasks other than the test's own that are not done, by name and coroutine."""
    current = asyncio.current_task()
    return [f"{task.get_name()}: {task.get_coro()!r}" for task in asyncio.all_tasks()
            if task is not current and not task.done()]


def nothing_lost(reports: list[dict[str, Any]]) -> list[str]:
    """What asyncio reported (a task destroyed while pending, an exception nobody retrieved)
    once everything the stop left behind is collected."""
    gc.collect()
    return [str(report.get("message")) for report in reports]


async def test_a_stop_amid_a_burst_of_publishes_answers_each_and_leaves_nothing_running(
    tmp_path: Path, database: DatabaseLocation
) -> None:
    """Forty publishers, a subscriber whose SETs are being signed and sent: the stop comes once
    every request is in. Each is answered 202 (and its event is stored) or refused 503."""
    subscriber = await start_subscriber()
    try:
        async with serving(tmp_path, database) as hub:
            await _subscribe(hub, subscriber.callback)
            before = hub.received()
            publishes = [asyncio.create_task(hub.publish(f"e{n}")) for n in range(40)]
            await until(lambda: hub.received() >= before + len(publishes))
            await asyncio.wait_for(hub.runner.cleanup(), SHUTDOWN_TIMEOUT * 3 + HTTP_GRACE + 5)
            answers = await asyncio.gather(*publishes)
            assert left_running() == []
            assert nothing_lost(hub.reports) == []
    finally:
        assert subscriber.server is not None
        await subscriber.server.close()

    assert {status for status, _ in answers} <= {202, 503}, answers
    refused = [body for status, body in answers if status == 503]
    assert all(body is not None and body["error"] == "shutting_down" for body in refused)
    accepted = [body["events"][0]["id"] for status, body in answers if status == 202 and body]
    stored = {str(row[0]) for row in await rows(database, "SELECT id FROM events")}
    assert set(accepted) <= stored  # nothing answered 202 is lost


async def test_a_stop_refuses_publishes_stuck_behind_another_nodes_lock(
    tmp_path: Path, postgres_url: PostgresURL
) -> None:
    """On a PostgreSQL store shared with other nodes, a group commit waits for the lock of an
    event id that another node holds. A stop gives it `shutdown_timeout`, then gives up on it:
    its publisher and those queued behind it are refused (503), the transaction is rolled back,
    and the store closes without waiting for the lock. (It waited for its 30 s statement
    timeout, with every publisher cut off with no answer, before.)"""
    async with serving(tmp_path, postgres_url) as hub:
        ((token_id,),) = await rows(postgres_url, "SELECT id FROM tokens")
        other_node = await asyncpg.connect(postgres_url.dsn)
        try:
            await other_node.execute("SELECT pg_advisory_lock(hashtext('sethub idempotency '"
                                     " || $1))", f"{token_id}:event:stuck")
            before = hub.received()
            stuck = asyncio.create_task(hub.publish("stuck"))
            await until(lambda: _waiting_for_a_lock(other_node))
            queued = [asyncio.create_task(hub.publish(f"e{n}")) for n in range(5)]
            await until(lambda: hub.received() >= before + 6)
            started = time.monotonic()
            await asyncio.wait_for(hub.runner.cleanup(), SHUTDOWN_TIMEOUT + HTTP_GRACE + 3)
            stopped_after = time.monotonic() - started
            answers = await asyncio.gather(stuck, *queued)
            assert left_running() == []
            assert nothing_lost(hub.reports) == []
        finally:
            await other_node.close()  # its lock goes with it

    assert [status for status, _ in answers] == [503] * 6, answers
    assert all(body is not None and body["error"] == "shutting_down" for _, body in answers)
    assert stopped_after < SHUTDOWN_TIMEOUT + HTTP_GRACE
    assert await rows(postgres_url, "SELECT COUNT(*) FROM events") == [(0,)]


async def _waiting_for_a_lock(conn: asyncpg.Connection) -> bool:
    waiting = await conn.fetchval(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return bool(waiting)


async def test_a_stop_lets_a_signing_batch_end_before_the_signing_processes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A SET is being signed when the hub stops, and its signing process does not answer (it is
    stopped, SIGSTOP, until well into the stop). The dispatcher gives up on the delivery; the
    signer then gives the batch `shutdown_timeout` and cancels it before it ends its processes.
    It used to end them under the batch, which then read a closed socket, logged "signing
    process ended; signing the batch again" as an error, and called the closed pool."""
    subscriber = await start_subscriber()
    try:
        async with serving(tmp_path, tmp_path / "hub.db", SIGNING_SHUTDOWN_TIMEOUT) as hub:
            await _subscribe(hub, subscriber.callback)
            pool = hub.runner.app[SIGNER]._pool  # as tests/hub/test_identity_events.py does
            await until(lambda: len(pool.pids) == 1)
            (pid,) = pool.pids
            os.kill(pid, signal.SIGSTOP)
            try:
                status, _ = await hub.publish("e1")
                assert status == 202
                await asyncio.sleep(0.2)  # claimed, and its SET sent to the stopped process
                stopping = asyncio.create_task(hub.runner.cleanup())
                # past the dispatcher's and the signer's shutdown_timeout: the old signer had
                # ended the pool under the batch by then
                await asyncio.sleep(3 * SIGNING_SHUTDOWN_TIMEOUT)
            finally:
                os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(stopping, 10)
            assert left_running() == []
            assert nothing_lost(hub.reports) == []
    finally:
        assert subscriber.server is not None
        await subscriber.server.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert subscriber.deliveries == []


async def _subscribe(hub: Served, callback: str) -> None:
    token = await create_token(hub.runner.app[STORE], scope="subscribe", label="s",
                               now=time.time())
    async with aiohttp.ClientSession() as session, session.post(
        f"{hub.base}/hub",
        data={"hub.mode": "subscribe", "hub.topic": f"{hub.base}/topics/login",
              "hub.callback": callback},
        headers={"Authorization": f"Bearer {token}"},
    ) as reply:
        assert reply.status == 202
    store = hub.runner.app[STORE]
    await until(lambda: store.subscriptions.get(topic=f"{hub.base}/topics/login",
                                                callback=callback))
