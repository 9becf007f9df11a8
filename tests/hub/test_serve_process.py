"""`sethub serve` as a real subprocess: start-up errors, graceful stop, and crash safety."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from set_tokens import KeySet

from .cli_runner import Ran, Sethub, in_process_sethub, one_line_error
from .process import (
    create_token,
    descendants,
    query,
    running_processes,
    sethub_command,
    start_hub_process,
)
from .support import Subscriber, free_port, start_subscriber, until
from .unprivileged import unprivileged

FAST = ("--allow-private-callbacks", "--poll-interval", "0.05", "--retry-schedule", "0.2,0.5,1")


@pytest.fixture
def sethub(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Sethub:
    """`sethub` in this process: for start-ups that fail (a hub that runs is a subprocess)."""
    return in_process_sethub(monkeypatch, capsys)


def test_bad_flag_value_exits_non_zero_with_message(sethub: Sethub, tmp_path: Path) -> None:
    done = sethub("serve", "--db", str(tmp_path / "x.db"), "--port", "not-a-port")
    assert done.returncode == 2
    assert "invalid --port: " in done.stderr and "(got 'not-a-port')" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_flag_exits_non_zero(sethub: Sethub, tmp_path: Path) -> None:
    done = sethub("serve", "--no-such-flag")
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_inconsistent_lease_bounds_refused(sethub: Sethub, tmp_path: Path) -> None:
    done = sethub(
        "serve", "--db", str(tmp_path / "x.db"), "--lease-min", "100", "--lease-default", "10"
    )
    assert done.returncode == 2
    assert "lease" in done.stderr


def test_unwritable_db_path_exits_with_message(sethub: Sethub, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = sethub(
        "serve",
        "--db",
        str(blocker / "sub" / "x.db"),
        "--port",
        "0",
        "--keys-dir",
        str(tmp_path / "keys"),
    )
    one_line_error(done, 1, "cannot open database")


def test_a_missing_db_directory_is_refused_not_created(sethub: Sethub, tmp_path: Path) -> None:
    """Walkthrough 2: `serve --db /nonexistent/dir/hub.db` created the directory and started."""
    db = tmp_path / "nodir" / "hub.db"
    done = sethub("serve", "--db", str(db), "--port", "0", "--keys-dir", str(tmp_path / "keys"))
    one_line_error(done, 1, f"cannot open database {db}: {db.parent} does not exist")
    assert list(tmp_path.iterdir()) == []


def test_taken_port_exits_with_message_before_creating_anything(
    sethub: Sethub, tmp_path: Path
) -> None:
    """Walkthrough 23: a key and the database were created before the port was found busy."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = sethub(
            "serve",
            "--db",
            str(tmp_path / "x.db"),
            "--port",
            str(port),
            "--keys-dir",
            str(tmp_path / "keys"),
        )
    one_line_error(done, 1, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert list(tmp_path.iterdir()) == []


def test_a_wildcard_host_without_public_url_is_refused(sethub: Sethub, tmp_path: Path) -> None:
    """Walkthrough 5: http://0.0.0.0:PORT went into topic URLs, Link headers and every iss.
    (Refused before any socket is bound: the test never listens beyond loopback.)"""
    done = sethub(
        "serve",
        "--host",
        "0.0.0.0",
        "--db",
        str(tmp_path / "x.db"),
        "--keys-dir",
        str(tmp_path / "keys"),
    )
    one_line_error(done, 2, "--host 0.0.0.0 listens on every address")
    assert "give --public-url" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_secret_key_on_the_command_line_is_warned_about(sethub: Sethub, tmp_path: Path) -> None:
    """Security L5: a flag's value is in /proc/PID/cmdline for every local user to read."""
    key = "kL0wZ8ZrTqK3n1o2c1y8m0m7m9o3n6a2c1y8m0m7m9o="
    done = sethub("serve", "--secret-key", key, "--host", "::", "--db", str(tmp_path / "x.db"))
    assert done.returncode == 2
    warning, error = done.stderr.splitlines()
    assert "--public-url" in error
    assert "--secret-key on the command line can be read by every local user" in warning
    assert "SETHUB_SECRET_KEY or --secret-key-file" in warning
    assert key not in done.stderr


def _keys_dir_with_keys(path: Path) -> Path:
    KeySet.with_new_key("ES256").save(path)
    return path


def _file_in_the_way(tmp_path: Path) -> tuple[Path, str]:
    keys = tmp_path / "keys"
    keys.write_text("a file, not a directory")
    return keys, f"cannot write signing keys in {keys}: {keys} is a file, not a directory"


def _file_above(tmp_path: Path) -> tuple[Path, str]:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    keys = blocker / "keys"
    return keys, f"cannot write signing keys in {keys}: {blocker} is a file, not a directory"


def _corrupt_manifest(tmp_path: Path) -> tuple[Path, str]:
    keys = _keys_dir_with_keys(tmp_path / "keys")
    (keys / "keyset.json").write_text("{oops")
    return keys, f"cannot read signing keys in {keys}: keyset.json is not valid JSON"


def _mode_000_directory(tmp_path: Path) -> tuple[Path, str]:
    keys = _keys_dir_with_keys(tmp_path / "keys")
    keys.chmod(0)
    return keys, f"cannot read signing keys in {keys}: keyset.json: Permission denied"


def _read_only_parent(tmp_path: Path) -> tuple[Path, str]:
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o500)
    keys = parent / "keys"
    return keys, f"cannot write signing keys in {keys}: Permission denied"


def _unreadable_manifest(tmp_path: Path) -> tuple[Path, str]:
    keys = _keys_dir_with_keys(tmp_path / "keys")
    (keys / "keyset.json").chmod(0)
    return keys, f"cannot read signing keys in {keys}: keyset.json: Permission denied"


@pytest.mark.parametrize("case", [_file_in_the_way, _file_above, _corrupt_manifest])
def test_keys_dir_problems_are_named_as_such(sethub: Sethub, tmp_path: Path, case: object) -> None:
    """Walkthrough 3: these were `cannot listen on HOST:PORT: ...`, or a traceback."""
    keys, expected = case(tmp_path)  # type: ignore[operator]
    done = sethub("serve", "--db", str(tmp_path / "hub.db"), "--port", "0", "--keys-dir", str(keys))
    one_line_error(done, 1, expected)
    assert "cannot listen" not in done.stderr


@pytest.mark.parametrize("case", [_mode_000_directory, _read_only_parent, _unreadable_manifest])
def test_keys_dir_permission_problems_are_named_as_such(tmp_path: Path, case: object) -> None:
    """Walkthrough 3, as a user that file modes apply to (a process without root's override)."""
    keys, expected = case(tmp_path)  # type: ignore[operator]
    command = [
        *sethub_command(),
        "serve",
        "--db",
        str(tmp_path / "hub.db"),
        "--port",
        "0",
        "--keys-dir",
        str(keys),
    ]
    process = subprocess.run(
        unprivileged(command), capture_output=True, text=True, timeout=30, check=False
    )
    one_line_error(Ran(process.returncode, process.stdout, process.stderr), 1, expected)
    assert "cannot listen" not in process.stderr


async def test_port_0_reports_the_real_port_and_builds_urls_with_it(tmp_path: Path) -> None:
    """Walkthrough 5: `--port 0` listened on a real port but gave http://127.0.0.1:0/hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    log = tmp_path / "hub.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [
                *sethub_command(),
                "serve",
                "--port",
                "0",
                "--db",
                str(tmp_path / "hub.db"),
                "--keys-dir",
                str(tmp_path / "keys"),
                "--signing-algorithm",
                "ES256",
                "--signing-workers",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        assert line.startswith("sethub listening on http://127.0.0.1:"), line + log.read_text()
        port = int(line.split("http://127.0.0.1:", 1)[1].split(",", 1)[0])
        base = f"http://127.0.0.1:{port}"
        assert port != 0 and f"hub URL {base}/hub," in line, line
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base}/topics/login") as response,
        ):
            document = await response.json()
        assert document["issuer"] == base, document
    finally:
        process.terminate()
        assert await asyncio.to_thread(process.wait, 20) == 0, log.read_text()


def test_env_vars_configure_the_hub(sethub: Sethub, tmp_path: Path) -> None:
    done = sethub("serve", "--help")
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
        for sub in subscribers:  # slow answers were for the kill to land mid fan-out; now done
            sub.delay = 0.0

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
            assert await running.stop() == 0
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
        assert await running.stop() == 0
        sub.deliver_status = 202
        running = await start_hub_process(db, port, *patient)
        expected = {f"e{n}".encode() for n in range(20)}
        await until(
            lambda: {d.body for d in sub.deliveries if d.body in expected} == expected, timeout=30
        )
    finally:
        if running.process.poll() is None:
            assert await running.stop() == 0
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
            assert await running.stop() == 0
        assert sub.server is not None
        await sub.server.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_a_killed_hub_leaves_no_signing_processes_behind(tmp_path: Path) -> None:
    """SIGKILL gives the hub no chance to stop its signing pool: the pool's processes (and the
    fork server) must notice on their own, or every crash leaks them."""
    running = await start_hub_process(
        tmp_path / "hub.db", free_port(), *FAST, "--signing-workers", "2"
    )
    try:
        await until(lambda: len(descendants(running.process.pid)) >= 2, timeout=20)
        helpers = descendants(running.process.pid)
    finally:
        running.kill()
    await until(lambda: not running_processes(helpers), timeout=15)
