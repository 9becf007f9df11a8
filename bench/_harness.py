"""What the benchmarks share: `sethub serve` subprocesses (one, or several nodes on one
PostgreSQL database), subscriber processes, waiting."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sethub() -> list[str]:
    script = Path(sys.executable).parent / "sethub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub"]


@contextlib.asynccontextmanager
async def running_hub(*flags: str, db: Path | None = None) -> AsyncIterator[tuple[str, str]]:
    """A hub on a free port: yields (base URL, a token that may publish and subscribe)."""
    async with running_hub_process(*flags, db=db) as (base, token, _pid):
        yield base, token


@contextlib.asynccontextmanager
async def running_hub_process(
    *flags: str, db: Path | None = None
) -> AsyncIterator[tuple[str, str, int]]:
    """Like `running_hub`, and the hub's process id too (for RSS)."""
    async with running_hub_nodes(*flags, db=db) as (bases, token, pids):
        yield bases[0], token, pids[0]


@contextlib.asynccontextmanager
async def running_hub_nodes(
    *flags: str, db: Path | str | None = None, nodes: int = 1
) -> AsyncIterator[tuple[list[str], str, list[int]]]:
    """`nodes` hub processes on one database, each on a free port, with one keys-dir and one
    secret key: yields (their base URLs, a token that may publish and subscribe, their process
    ids). `db` is a SQLite path (one node only) or a PostgreSQL URL (see `fresh_postgres`)."""
    work = Path(tempfile.mkdtemp(prefix="sethub-bench-"))
    where = str(db or work / "hub.db")
    if nodes > 1 and not where.startswith(("postgresql://", "postgres://")):
        raise ValueError("several nodes need a PostgreSQL database")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    env["SETHUB_SECRET_KEY"] = base64.b64encode(os.urandom(32)).decode()
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        bases: list[str] = []
        ports = [free_port() for _ in range(nodes)]
        # One hub: every node names its topics (and the SETs' issuer) by the same public URL, as
        # behind a load balancer; here the first node's address.
        public = ["--public-url", f"http://127.0.0.1:{ports[0]}"] if nodes > 1 else []
        for n, port in enumerate(ports):  # one by one: the first migrates, makes the signing key
            log = (work / f"hub-{n}.log").open("w")
            logs.append(log)
            processes.append(subprocess.Popen(
                [*sethub(), "serve", "--db", where, "--keys-dir", str(work / "keys"), "--port",
                 str(port), "--allow-private-callbacks", "--log-level", "warning",
                 "--subscribe-rate", "0", "--subscribe-rate-per-callback-host", "0",
                 "--publish-rate", "0", *public, *flags],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            ))
            bases.append(f"http://127.0.0.1:{port}")
            await wait_for(f"{bases[-1]}/healthz")
        token = subprocess.run(
            [*sethub(), "tokens", "create", "--db", where, "--scope", "publish subscribe"],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip().splitlines()[-1]
        yield bases, token, [process.pid for process in processes]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        for log in logs:
            log.close()


@contextlib.asynccontextmanager
async def fresh_postgres(server: str) -> AsyncIterator[str]:
    """A new, empty database on the PostgreSQL server of `server` (a URL naming any database
    there), dropped at the end: every run starts from the same empty state. Yields its URL."""
    import asyncpg  # only the PostgreSQL runs need it

    parts = urlsplit(server)
    name = f"sethub_bench_{os.urandom(4).hex()}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def subscribers(healthy: int, dead: int = 0) -> AsyncIterator[dict[str, list[int]]]:
    port_file = Path(tempfile.mkdtemp()) / "ports.json"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_subscribers.py"), "--healthy", str(healthy), "--dead",
         str(dead), "--port-file", str(port_file)],
    )
    try:
        deadline = time.time() + 20
        while not port_file.exists():
            if time.time() > deadline:
                raise RuntimeError("subscriber process did not start")
            await asyncio.sleep(0.05)
        yield json.loads(port_file.read_text())
    finally:
        process.kill()  # dead subscribers hold requests open; no graceful stop needed
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its live descendants (the signing processes), from
    /proc (Linux); 0.0 where there is no /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        child = int(entry.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / ticks
    family = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in family and child not in family:
                family.add(child)
                grew = True
    return sum(used.get(member, 0.0) for member in family)


async def database_cpu_seconds(url: str) -> dict[int, float]:
    """CPU time used so far by each server process (backend) connected to the PostgreSQL
    database of `url`, by process id, from /proc: only for a server on this machine."""
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        pids = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return {row["pid"]: cpu_seconds(row["pid"]) for row in pids}


async def database_commits(url: str) -> int:
    """Transactions committed so far in the PostgreSQL database of `url` (the statistics
    collector's count: it lags by up to a second; read it after a pause)."""
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        return int(await admin.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ))
    finally:
        await admin.close()


async def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    async with aiohttp.ClientSession() as session:
        while time.time() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def subscribe_all(
    base: str, topic: str, ports: list[int], *, token: str, **extra: str
) -> None:
    """Identity topics take a subscriber token: `token` (running_hub's may subscribe)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for port in ports:
            form = {"hub.mode": "subscribe", "hub.topic": topic,
                    "hub.callback": f"http://127.0.0.1:{port}/cb", **extra}
            async with session.post(f"{base}/hub", data=form, headers=headers) as response:
                if response.status != 202:
                    raise RuntimeError(await response.text())
    await asyncio.sleep(1.0)  # verification is asynchronous


async def stats(ports: list[int]) -> list[dict[str, float]]:
    async with aiohttp.ClientSession() as session:
        found = []
        for port in ports:
            async with session.get(f"http://127.0.0.1:{port}/stats") as response:
                found.append(await response.json())
        return found


async def insert_subscriptions(db: Path, topic: str, callbacks: list[str]) -> None:
    """Active subscriptions written straight into a hub's SQLite file (opened here, beside the
    hub's own connection): verifying thousands of callbacks one by one would measure the
    subscribers, not the hub."""
    now = time.time()

    def insert() -> None:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn, conn:
            conn.executemany(
                "INSERT OR IGNORE INTO subscriptions (topic, callback, secret, lease_seconds,"
                " expires_at, created_at, updated_at, callback_host)"
                " VALUES (?, ?, NULL, 864000, ?, ?, ?, '127.0.0.1')",
                [(topic, callback, now + 864000, now, now) for callback in callbacks],
            )

    await asyncio.to_thread(insert)
