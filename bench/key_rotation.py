"""How long a rotation takes to reach every node of a hub on PostgreSQL, and what watching costs.

Two `sethub serve` nodes on a fresh database of the PostgreSQL at SETHUB_BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/postgres, trust auth; loopback only), one key set in the
database. Each round rotates the key set through the store, as `sethub keys rotate --db` does
(without the command's start-up), and times the moment both nodes' JWKS list the new key, read
every 10 ms. Then the read each node makes twice a second to watch the set (its generation) is
timed on its own.

    python bench/key_rotation.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from _harness import free_port, sethub, wait_for
from hub.database_url import PostgresURL
from hub.signing.stored_keys import key_set_of, records_of
from hub.store import open_store

SERVER = os.environ.get("SETHUB_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
READS = 2000


def on_database(name: str) -> PostgresURL:
    return PostgresURL(urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}")))


async def kids(session: aiohttp.ClientSession, base: str) -> set[str]:
    async with session.get(f"{base}/.well-known/jwks.json") as response:
        return {key["kid"] for key in (await response.json())["keys"]}


def start_node(
    url: PostgresURL, port: int, work: Path, n: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    flags = ["--log-level", "warning", "--signing-workers", "1"]
    command = [*sethub(), "serve", "--db", url.dsn, "--port", str(port), *flags]
    command += ["--keys-dir", str(work / f"keys{n}")]
    with (work / f"node{n}.log").open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


async def listed_everywhere(session: aiohttp.ClientSession, bases: list[str], kid: str) -> None:
    """Once every node's JWKS lists `kid` (looked at every 10 ms)."""
    while True:
        if all([kid in await kids(session, base) for base in bases]):
            return
        await asyncio.sleep(0.01)


async def measure(url: PostgresURL, secret_key: str, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="sethub-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    env["SETHUB_SECRET_KEY"] = secret_key
    ports = [free_port(), free_port()]
    nodes = [start_node(url, port, work, n, env) for n, port in enumerate(ports)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    store = await open_store(url, secret_key=base64.b64decode(secret_key))
    try:
        for base in bases:
            await wait_for(f"{base}/healthz")
        keys = store.signing_keys
        assert keys is not None
        delays = []
        async with aiohttp.ClientSession() as session:
            for _ in range(rounds):
                stored = await keys.load()
                key_set = key_set_of(stored)
                new = key_set.rotate("ES256", grace=0)
                await keys.replace(records_of(key_set), generation=stored.generation)
                stored_at = time.monotonic()
                await listed_everywhere(session, bases, new.kid)
                delays.append(time.monotonic() - stored_at)
        started = time.perf_counter()
        for _ in range(READS):
            await keys.generation()
        read = (time.perf_counter() - started) / READS
    finally:
        await store.close()
        for node in nodes:
            node.send_signal(signal.SIGTERM)
        for node in nodes:
            node.wait(timeout=30)
    delays.sort()
    print(f"rotation reaches both nodes: median {statistics.median(delays) * 1000:.0f} ms,"
          f" max {delays[-1] * 1000:.0f} ms over {rounds} rotations")  # fmt: skip
    print(f"the watch read (generation): {read * 1e6:.0f} us per read, twice a second per node")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    name = f"sethub_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(SERVER)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await measure(on_database(name), base64.b64encode(os.urandom(32)).decode(), args.rounds)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
