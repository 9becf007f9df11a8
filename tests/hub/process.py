"""Running `sethub` as a real subprocess, the way an operator does."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from hub.database_url import parse_database
from hub.intake import auth
from hub.store import open_store


def sethub_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m hub`."""
    script = Path(sys.executable).parent / "sethub"
    if script.exists():
        return [str(script)]
    found = shutil.which("sethub")
    return [found] if found else [sys.executable, "-m", "hub"]


def run_sethub(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sethub_command(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def create_token(db: Path | str, scope: str = "publish") -> str:
    """A token of `scope` in the hub's database (a SQLite path or a PostgreSQL URL), made as
    `sethub tokens create` makes it (auth.create_token on the store) but in this process: a
    `sethub` process per token cost ~1 s of imports, in tests that need a token, not the
    command (tests/hub/test_subscriber_tokens.py runs the command). On a thread of its own, so
    an async test may call it while its loop is busy."""
    where = parse_database(str(db))
    if isinstance(where, Path):
        assert where.is_file(), f"no database at {where}: start the hub first"

    async def create() -> str:
        store = await open_store(where)
        try:
            return await auth.create_token(store, scope=scope, label=None, now=time.time())
        finally:
            await store.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, create()).result()


@dataclass
class HubProcess:
    process: subprocess.Popen[str]
    port: int
    db: Path
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait, blocking: only where nothing of the test serves on its event loop."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait without blocking the event loop. A test whose subscribers run on its
        loop must stop the hub this way: `terminate()` would freeze them, and the hub would wait
        its whole --shutdown-timeout for the answers to the deliveries it has in flight."""
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sethub serve did not stop within {timeout} s")
            await asyncio.sleep(0.02)
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# `sethub serve` as the console script runs it (hub.cli.main with the command line), once `serve`
# arrives on stdin (the interpreter and the hub's modules are loaded before that); if the test
# goes away first, stdin ends and the process exits without serving.
_SERVE_ON_CUE = (
    "import sys; from hub.cli import main; sys.argv[0] = 'sethub';"
    " sys.exit(main() if sys.stdin.readline() == 'serve\\n' else 1)"
)


def _popen_serve(db: Path, port: int, flags: tuple[str, ...], *, on_cue: bool) -> HubProcess:
    log = db.with_suffix(f".{time.time_ns()}.log")
    handle = log.open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    command = [sys.executable, "-c", _SERVE_ON_CUE] if on_cue else sethub_command()
    process = subprocess.Popen(
        [
            *command,
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--keys-dir",
            str(db.parent / "keys"),
            *flags,
        ],
        stdin=subprocess.PIPE if on_cue else None,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    handle.close()
    return HubProcess(process, port, db, log)


async def start_hub_process(db: Path, port: int, *flags: str) -> HubProcess:
    running = _popen_serve(db, port, flags, on_cue=False)
    await wait_healthy(running)
    return running


def spare_hub_process(db: Path, port: int, *flags: str) -> HubProcess:
    """A `sethub serve` process that loads Python and the hub's modules now and starts serving
    only at `start_spare`: for tests that restart a hub many times and are about what the hub
    does after a restart, not about the ~0.8 s of CPU an interpreter takes to import it.
    Nothing is bound or opened before the cue, so it may be made while the hub it replaces still
    runs on the same port and database."""
    return _popen_serve(db, port, flags, on_cue=True)


async def start_spare(spare: HubProcess) -> HubProcess:
    """Cue a `spare_hub_process` to run `sethub serve`; return once it is healthy."""
    assert spare.process.stdin is not None
    spare.process.stdin.write("serve\n")
    spare.process.stdin.close()
    await wait_healthy(spare)
    return spare


async def wait_healthy(running: HubProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                raise AssertionError(f"sethub exited early:\n{running.output()}")
            try:
                async with session.get(f"{running.base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"sethub did not become healthy:\n{running.output()}")


def descendants(pid: int) -> set[int]:
    """The live processes started by `pid`, directly or not (from /proc: Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(int(stat.parent.name))
        if fields is not None and fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running_processes(pids: Iterable[int]) -> set[int]:
    """The processes among `pids` that have not ended (a zombie has ended), from /proc."""
    return {pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] != "Z"}


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first, then the parent), or
    None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Read the hub's database from outside, as an operator would with sqlite3."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()
