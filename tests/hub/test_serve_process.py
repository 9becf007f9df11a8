"""`sethub serve` as a real subprocess: start-up errors, graceful stop, and crash safety."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from .process import (
    create_token,
    descendants,
    query,
    run_sethub,
    running_processes,
    start_hub_process,
)
from .support import Subscriber, free_port, start_subscriber, until

FAST = ("--allow-private-callbacks", "--poll-interval", "0.05", "--retry-schedule", "0.2,0.5,1")


def test_bad_flag_value_exits_non_zero_with_message(tmp_path: Path) -> None:
    done = run_sethub("serve", "--db", str(tmp_path / "x.db"), "--port", "not-a-port")
    assert done.returncode == 2
    assert "invalid setting port" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_flag_exits_non_zero(tmp_path: Path) -> None:
    done = run_sethub("serve", "--no-such-flag")
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_inconsistent_lease_bounds_refused(tmp_path: Path) -> None:
    done = run_sethub(
        "serve", "--db", str(tmp_path / "x.db"), "--lease-min", "100", "--lease-default", "10"
    )
    assert done.returncode == 2
    assert "lease" in done.stderr


def test_unwritable_db_path_exits_with_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_sethub("serve", "--db", str(blocker / "sub" / "x.db"), "--port", str(free_port()),
                      "--keys-dir", str(tmp_path / "keys"))
    assert done.returncode == 1
    assert "cannot open database" in done.stderr
    assert "Traceback" not in done.stderr


def test_taken_port_exits_with_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_sethub("serve", "--db", str(tmp_path / "x.db"), "--port", str(port),
                          "--keys-dir", str(tmp_path / "keys"))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_env_vars_configure_the_hub(tmp_path: Path) -> None:
    done = run_sethub("serve", "--help")
    assert done.returncode == 0
    assert "SETHUB_ALLOW_PRIVATE_CALLBACKS" in done.stdout


async def _subscribe_all(base: str, topic: str, subscribers: list[Subscriber], db: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for sub in subscribers:
            form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": sub.callback}
            async with session.post(f"{base}/hub", data=form) as response:
                assert response.status == 202
    await until(lambda: query(db, "SELECT COUNT(*) FROM subscriptions")[0][0] == len(subscribers))


async def test_sigterm_stops_cleanly_and_prints_where_it_listens(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    running = await start_hub_process(db, free_port(), *FAST)
    try:
        assert f"listening on http://127.0.0.1:{running.port}" in running.output()
    finally:
        code = running.terminate()
    assert code == 0, running.output()


async def test_sigkill_during_fan_out_loses_nothing(tmp_path: Path) -> None:
    """200 events to 5 subscribers, SIGKILL mid fan-out, restart: all 1000 deliveries arrive."""
    db, port = tmp_path / "hub.db", free_port()
    running = await start_hub_process(db, port, *FAST)
    token = create_token(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    topic = f"{running.base}/topics/load"
    # Slow enough answers (5 x 2 concurrent / 50 ms: ~200 deliveries/s) that the fan-out is
    # still under way when the kill comes, however fast the hub itself is.
    subscribers = [await start_subscriber(delay=0.05) for _ in range(5)]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(topic, data=b"init", headers=headers) as response:
                assert response.status == 202
            await _subscribe_all(running.base, topic, subscribers, db)
            for n in range(200):
                async with session.post(topic, data=f"event-{n}", headers=headers) as response:
                    assert response.status == 202
        await until(lambda: sum(len(s.deliveries) for s in subscribers) >= 150, timeout=30)
        running.kill()
        delivered_before_kill = sum(len(s.deliveries) for s in subscribers)
        assert delivered_before_kill < 1000, "the kill came after the fan-out ended"

        running = await start_hub_process(db, port, *FAST)
        expected = {f"event-{n}".encode() for n in range(200)}
        for sub in subscribers:
            await until(lambda s=sub: {d.body for d in s.deliveries} >= expected, timeout=60)
        await until(
            lambda: query(db, "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")[0][0] == 0
        )
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        # at-least-once: duplicates only for what was in flight at the kill
        total = sum(len(s.deliveries) for s in subscribers)
        assert total - 1000 <= 5 * 2 + 64
    finally:
        if running.process.poll() is None:
            assert running.terminate() == 0
        for sub in subscribers:
            assert sub.server is not None
            await sub.server.close()


async def test_graceful_stop_then_restart_delivers_the_rest(tmp_path: Path) -> None:
    db, port = tmp_path / "hub.db", free_port()
    patient = (
        "--allow-private-callbacks",
        "--poll-interval",
        "0.05",
        "--retry-schedule",
        "1,1,1,1,1,1,1,1,1,1",
    )
    running = await start_hub_process(db, port, *patient)
    token = create_token(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    topic = f"{running.base}/topics/news"
    sub = await start_subscriber(deliver_status=503)  # nothing gets through before the stop
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(topic, data=b"init", headers=headers) as response:
                assert response.status == 202
            await _subscribe_all(running.base, topic, [sub], db)
            for n in range(20):
                async with session.post(topic, data=f"e{n}", headers=headers) as response:
                    assert response.status == 202
        await until(lambda: len(sub.deliveries) >= 1)
        assert running.terminate() == 0
        sub.deliver_status = 202
        running = await start_hub_process(db, port, *patient)
        expected = {f"e{n}".encode() for n in range(20)}
        await until(
            lambda: {d.body for d in sub.deliveries if d.body in expected} == expected, timeout=30
        )
    finally:
        if running.process.poll() is None:
            assert running.terminate() == 0
        assert sub.server is not None
        await sub.server.close()


async def test_request_answered_202_is_verified_after_a_crash(tmp_path: Path) -> None:
    """A pending verification is durable: SIGKILL while it is under way, restart, it completes."""
    db, port = tmp_path / "hub.db", free_port()
    running = await start_hub_process(db, port, *FAST)
    token = create_token(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    topic = f"{running.base}/topics/news"
    sub = await start_subscriber(verify_delay=5.0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(topic, data=b"init", headers=headers) as response:
                assert response.status == 202
            form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": sub.callback}
            async with session.post(f"{running.base}/hub", data=form) as response:
                assert response.status == 202
        await until(lambda: len(sub.verifications) == 1)
        running.kill()
        assert query(db, "SELECT COUNT(*) FROM subscriptions") == [(0,)]
        sub.verify_delay = 0.0
        running = await start_hub_process(db, port, *FAST)
        await until(lambda: query(db, "SELECT COUNT(*) FROM subscriptions") == [(1,)])
        assert len(sub.verifications) == 2
        first, second = sub.verifications
        assert first["hub.challenge"] != second["hub.challenge"]  # single-use challenges
        # The intent is closed in its own transaction just after the subscription is activated.
        await until(lambda: query(db, "SELECT COUNT(*) FROM intents") == [(0,)])
    finally:
        if running.process.poll() is None:
            assert running.terminate() == 0
        assert sub.server is not None
        await sub.server.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_a_killed_hub_leaves_no_signing_processes_behind(tmp_path: Path) -> None:
    """SIGKILL gives the hub no chance to stop its signing pool: the pool's processes (and the
    fork server) must notice on their own, or every crash leaks them."""
    running = await start_hub_process(tmp_path / "hub.db", free_port(), *FAST,
                                      "--signing-workers", "2")
    try:
        await until(lambda: len(descendants(running.process.pid)) >= 2, timeout=20)
        helpers = descendants(running.process.pid)
    finally:
        running.kill()
    await until(lambda: not running_processes(helpers), timeout=15)
