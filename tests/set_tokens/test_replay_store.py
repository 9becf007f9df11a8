"""The persistent jti store (security review H1, receiver half): a receiver that restarts still
refuses a SET it accepted, several processes on one file accept each SET once between them, rows
expire when the SET would be too old anyway, and a store that fails makes the receiver answer
503, not reject the SET."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from set_tokens import (
    SigningKey,
    SqliteReplayCache,
    StaticJwks,
    VerifiedSet,
    Verifier,
    issue,
    make_push_handler,
)
from set_tokens._replay_sqlite import PURGE_EVERY
from set_tokens.events import CAEP_BASE

from ..hub.support import free_port

ISSUER, AUDIENCE = "https://idp.example/", "https://rp.example/"
KEY = SigningKey.generate("ES256")
SET_HEADERS = {"Content-Type": "application/secevent+jwt"}


def token() -> str:
    return issue(key=KEY, issuer=ISSUER, audience=AUDIENCE,
                 event_type=CAEP_BASE + "account-disabled", payload={},
                 subject={"format": "email", "email": "ceo@victim.example"})


async def push_once(store: SqliteReplayCache, compact: str, handed: list[VerifiedSet]) -> int:
    """Start a receiver on `store`, push `compact` to it once, stop it: one receiver's lifetime."""
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"],
                        jwks=StaticJwks([KEY]), replay_cache=store)

    async def on_event(event: VerifiedSet) -> None:
        handed.append(event)

    app = web.Application()
    app.router.add_post("/events", make_push_handler(verifier, on_event))
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session, session.post(
                server.make_url("/events"), data=compact, headers=SET_HEADERS) as response:
            return response.status
    finally:
        await server.close()


async def test_a_restarted_receiver_refuses_a_set_it_accepted_before(tmp_path: Path) -> None:
    compact, handed = token(), []
    first = SqliteReplayCache(tmp_path / "jti.db")
    assert await push_once(first, compact, handed) == 202
    first.close()
    again = SqliteReplayCache(tmp_path / "jti.db")  # the receiver restarted
    assert await push_once(again, compact, handed) == 202  # RFC 8935: a duplicate is not an error
    again.close()
    assert len(handed) == 1


CLAIMER = """
import sys, time
from pathlib import Path
from set_tokens import SqliteReplayCache
path, me, count, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = SqliteReplayCache(path, fsync=False)
(ready / me).touch()
deadline = time.monotonic() + 30
while len(list(ready.iterdir())) < int(sys.argv[5]) and time.monotonic() < deadline:
    time.sleep(0.005)  # every process starts claiming at once
keys = [f"iss\\x00jti-{n}" for n in range(count)]
if int(me) % 2:
    keys.reverse()
print(sum(store.claim(k, expires_at=2e9, now=1e9) for k in keys))
"""


async def test_processes_sharing_the_file_accept_each_jti_once(tmp_path: Path) -> None:
    processes, count, ready = 3, 1500, tmp_path / "ready"
    ready.mkdir()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLAIMER, str(tmp_path / "jti.db"), str(n), str(count),
            str(ready), str(processes), stdout=subprocess.PIPE)
        for n in range(processes)
    ]
    outputs = [(await child.communicate())[0] for child in children]
    claimed = [int(out) for out in outputs]
    assert sum(claimed) == count, claimed
    store = SqliteReplayCache(tmp_path / "jti.db")
    assert len(store) == count
    store.close()


def test_rows_expire_and_are_purged(tmp_path: Path) -> None:
    store = SqliteReplayCache(tmp_path / "jti.db")
    assert store.claim("a", expires_at=100.0, now=10.0)
    assert not store.claim("a", expires_at=100.0, now=99.0)
    assert store.seen("a", now=99.0) and not store.seen("a", now=100.0)
    assert store.claim("a", expires_at=300.0, now=100.0)  # expired: the SET is too old by now
    for n in range(300):
        store.claim(f"old-{n}", expires_at=150.0, now=110.0)
    assert len(store) == 301
    for n in range(PURGE_EVERY):  # a purge comes within PURGE_EVERY claims
        store.claim(f"new-{n}", expires_at=900.0, now=200.0)
    assert len(store) == 1 + PURGE_EVERY  # the 300 expired rows are gone
    assert store.seen("a", now=200.0) and store.seen("new-0", now=200.0)
    store.forget("a")
    assert not store.seen("a", now=200.0)
    store.close()


async def test_a_store_that_cannot_be_written_answers_503(tmp_path: Path) -> None:
    store = SqliteReplayCache(tmp_path / "jti.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "jti.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    handed: list[VerifiedSet] = []
    try:
        assert await push_once(store, token(), handed) == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await push_once(store, token(), handed) == 202
    assert len(handed) == 1
    store.close()


def test_an_unusable_path_is_a_configuration_error(tmp_path: Path) -> None:
    from set_tokens import ConfigurationError

    with pytest.raises(ConfigurationError, match="replay store"):
        SqliteReplayCache(tmp_path / "missing-dir" / "jti.db")
