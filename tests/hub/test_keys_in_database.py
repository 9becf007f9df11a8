"""Hub nodes on one PostgreSQL database sign with one key set, kept in the database.

Real `sethub serve` processes on a fresh PostgreSQL schema, each with a keys dir of its own (so
nothing but the database can make them agree), the secret key given to both by environment, a
real subscriber on loopback. A node is held still with SIGSTOP while the other works, so which
node signed and delivered a SET is known, not guessed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from hub.database_url import PostgresURL
from set_tokens import KeySet, StaticJwks, Verifier

from ..postgres import query
from .process import sethub_command, wait_healthy
from .support import Subscriber, free_port, start_subscriber, until

SECRET_KEY = base64.b64encode(os.urandom(32)).decode()
EVENT = {
    "type": "USER_LOGIN_FAILURE",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password"},
}


@dataclass
class Node:
    """One `sethub serve` process of the hub."""

    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def environment(secret_key: str | None = SECRET_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    if secret_key is not None:
        env["SETHUB_SECRET_KEY"] = secret_key
    return env


async def start_node(
    url: PostgresURL, port: int, keys_dir: Path, *, public_url: str, secret_key: str | None
) -> Node:
    log = keys_dir.with_suffix(".log")
    with log.open("w") as handle:
        process = subprocess.Popen(
            [*sethub_command(), "serve", "--db", url.dsn, "--port", str(port),
             "--keys-dir", str(keys_dir), "--public-url", public_url,
             "--allow-private-callbacks", "--signing-workers", "1"],
            stdout=handle, stderr=subprocess.STDOUT, text=True,
            env=environment(secret_key),
        )  # fmt: skip
    node = Node(process, port, log)
    try:
        await wait_healthy(node)  # type: ignore[arg-type]  (the same duck as HubProcess)
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    return node


@asynccontextmanager
async def hub_of_two(
    url: PostgresURL, tmp_path: Path, *, at_once: bool = True
) -> AsyncIterator[list[Node]]:
    """Two nodes of one hub on one database, started at the same moment (or node 0 first): one
    public URL (a load balancer's, here node 0's), a keys dir each."""
    ports = [free_port(), free_port()]
    public_url = f"http://127.0.0.1:{ports[0]}"
    starts = [
        start_node(url, port, tmp_path / f"keys{n}", public_url=public_url, secret_key=SECRET_KEY)
        for n, port in enumerate(ports)
    ]
    if at_once:
        started = await asyncio.gather(*starts, return_exceptions=True)
    else:
        try:
            started = [await starts[0]]
        except BaseException:
            starts[1].close()  # never started
            raise
        started += await asyncio.gather(starts[1], return_exceptions=True)
    nodes = [node for node in started if isinstance(node, Node)]
    try:
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure
        yield nodes
    finally:
        for node in nodes:
            node.process.send_signal(signal.SIGCONT)  # a node a test held still must stop too
            node.process.terminate()
        for node in nodes:
            node.process.wait(timeout=30)


@contextmanager
def held_still(node: Node) -> Iterator[None]:
    """The node stops running (SIGSTOP): it claims and delivers nothing until released. Only
    once its deliveries are settled (`delivered` waits for that): a node stopped inside a
    transaction would keep its row locks, and the other node would wait on them."""
    node.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        node.process.send_signal(signal.SIGCONT)


def sethub_ok(*args: str, secret_key: str | None = SECRET_KEY) -> str:
    env = environment(secret_key)
    done = subprocess.run(
        [*sethub_command(), *args], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def jwks_of(session: aiohttp.ClientSession, node: Node) -> dict[str, Any]:
    async with session.get(f"{node.base}/.well-known/jwks.json") as response:
        assert response.status == 200
        return await response.json()


def kids(jwks: dict[str, Any]) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}


async def subscribe(
    session: aiohttp.ClientSession, node: Node, url: PostgresURL, sub: Subscriber, topic: str
) -> None:
    token = sethub_ok("tokens", "create", "--db", url.dsn, "--scope", "subscribe")
    form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": sub.callback}
    headers = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}
    async with session.post(f"{node.base}/hub", data=form, headers=headers) as response:
        assert response.status == 202, await response.text()

    async def active() -> bool:
        rows = await query(url, "SELECT count(*) FROM subscriptions WHERE callback = ?",
                           sub.callback)  # fmt: skip
        return rows == [(1,)]

    await until(active, timeout=20)


async def publish(session: aiohttp.ClientSession, node: Node, token: str, txn: str) -> None:
    async with session.post(
        f"{node.base}/events", json={**EVENT, "txn": txn},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:  # fmt: skip
        assert response.status == 202, await response.text()


async def delivered(sub: Subscriber, txn: str, url: PostgresURL) -> str:
    """The SET of event `txn` as the subscriber received it, once the node that sent it has
    recorded the delivery (nothing is left pending)."""

    def found() -> str | None:
        for delivery in sub.deliveries:
            token = delivery.body.decode()
            if jwt.decode(token, options={"verify_signature": False})["txn"] == txn:
                return token
        return None

    async def settled() -> bool:
        return await query(url, "SELECT count(*) FROM deliveries WHERE state = 'pending'") == [(0,)]

    await until(found, timeout=20)
    await until(settled, timeout=20)
    token = found()
    assert token is not None
    return token


def verifier(jwks: dict[str, Any], public_url: str, sub: Subscriber) -> Verifier:
    audience = sub.callback.rsplit("/", 1)[0]
    return Verifier(issuer=public_url, audience=audience, algorithms=["RS256", "ES256"],
                    jwks=StaticJwks(jwks))  # fmt: skip


async def test_a_set_one_node_delivers_verifies_with_the_other_nodes_jwks(
    postgres_url: PostgresURL, tmp_path: Path
) -> None:
    sub = await start_subscriber()
    try:
        async with hub_of_two(postgres_url, tmp_path) as nodes, aiohttp.ClientSession() as session:
            first, second = nodes
            # Started at once on an empty database: one key set between them, one key.
            assert await query(postgres_url, "SELECT count(*) FROM signing_keys") == [(1,)]
            published = [await jwks_of(session, node) for node in (first, second)]
            assert published[0] == published[1] and len(published[0]["keys"]) == 1
            public_url = first.base
            await subscribe(session, first, postgres_url, sub, f"{public_url}/topics/login")
            token = sethub_ok("tokens", "create", "--db", postgres_url.dsn, "--scope", "publish")
            token = token.strip().splitlines()[-1]
            with held_still(second):
                await publish(session, first, token, "by-first")
                by_first = await delivered(sub, "by-first", postgres_url)
            with held_still(first):
                await publish(session, second, token, "by-second")
                by_second = await delivered(sub, "by-second", postgres_url)
            first_jwks, second_jwks = [await jwks_of(session, n) for n in (first, second)]
            checked = await verifier(second_jwks, public_url, sub).verify(by_first)
            assert checked.claims.txn == "by-first"
            checked = await verifier(first_jwks, public_url, sub).verify(by_second)
            assert checked.claims.txn == "by-second"
            signed_by = {jwt.get_unverified_header(t)["kid"] for t in (by_first, by_second)}
            assert signed_by == kids(first_jwks)  # the one key both nodes hold
    finally:
        assert sub.server is not None
        await sub.server.close()


async def test_a_rotation_reaches_every_node_within_a_second(
    postgres_url: PostgresURL, tmp_path: Path
) -> None:
    sub = await start_subscriber()
    try:
        async with hub_of_two(postgres_url, tmp_path) as nodes, aiohttp.ClientSession() as session:
            before = kids(await jwks_of(session, nodes[0]))
            said = sethub_ok("keys", "rotate", "--db", postgres_url.dsn, "--alg", "ES256",
                             "--grace", "0")  # fmt: skip
            new_kid = re.fullmatch(r"published ES256 key (\S+); it signs from .*\n", said)[1]
            assert new_kid not in before

            async def everywhere() -> bool:
                found = [kids(await jwks_of(session, node)) for node in nodes]
                return all(k == before | {new_kid} for k in found)

            # "Within a second" is the promise: each node reads the key set's generation every
            # half second; the bound leaves room for a loaded machine, not for a missed poll.
            await until(everywhere, timeout=1.5, interval=0.05)
            # Active at once (--grace 0): each node's next SETs carry the new key.
            public_url = nodes[0].base
            await subscribe(session, nodes[0], postgres_url, sub, f"{public_url}/topics/login")
            token = sethub_ok("tokens", "create", "--db", postgres_url.dsn, "--scope", "publish")
            token = token.strip().splitlines()[-1]
            for node, other in ((nodes[0], nodes[1]), (nodes[1], nodes[0])):
                with held_still(other):
                    await publish(session, node, token, f"after-{node.port}")
                    signed = await delivered(sub, f"after-{node.port}", postgres_url)
                assert jwt.get_unverified_header(signed)["kid"] == new_kid
            listed = sethub_ok("keys", "list", "--db", postgres_url.dsn)
            assert new_kid in listed and "active" in listed and "retiring" in listed
    finally:
        assert sub.server is not None
        await sub.server.close()


async def test_a_keys_dir_is_imported_once_and_never_stored_in_plaintext(
    postgres_url: PostgresURL, tmp_path: Path
) -> None:
    """An operator moving from SQLite: the first node's keys dir holds the hub's key set, and
    receivers have cached its JWKS; that node starts first (docs/operations.md). Both nodes then
    publish and sign with exactly that set."""
    old = KeySet.with_new_key("RS256")
    old.rotate("ES256", grace=3600)
    old.save(tmp_path / "keys0")
    async with (
        hub_of_two(postgres_url, tmp_path, at_once=False) as nodes,
        aiohttp.ClientSession() as session,
    ):
        for node in nodes:
            assert kids(await jwks_of(session, node)) == kids(old.jwks())
        assert "imported 2 signing keys from" in nodes[0].output() + nodes[1].output()
    rows = await query(postgres_url, "SELECT kid, private_key, t::text FROM signing_keys t")
    assert {kid for kid, _, _ in rows} == kids(old.jwks())
    for key, _, _, _ in old.members():
        pem = key.private_pem()
        body = b"".join(pem.splitlines()[1:-1])
        der = base64.b64decode(body)
        for _, sealed, as_text in rows:
            assert pem not in sealed and body not in sealed and der not in sealed
            assert body.decode() not in as_text and der.hex() not in as_text


async def test_without_a_secret_key_a_node_on_postgresql_stops_with_one_line(
    postgres_url: PostgresURL, tmp_path: Path
) -> None:
    done = subprocess.run(
        [*sethub_command(), "serve", "--db", postgres_url.dsn, "--port", "0",
         "--keys-dir", str(tmp_path / "keys")],
        capture_output=True, text=True, timeout=60, env=environment(None), check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("sethub: signing keys are kept in the database")
    assert "--secret-key-file FILE or SETHUB_SECRET_KEY" in lines[-1]
    assert await query(postgres_url, "SELECT count(*) FROM signing_keys") == [(0,)]
    assert not (tmp_path / "keys").exists()
    listed = subprocess.run(
        [*sethub_command(), "keys", "list", "--db", postgres_url.dsn],
        capture_output=True, text=True, timeout=60, env=environment(None), check=False,
    )  # fmt: skip
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert listed.stderr.startswith("sethub: signing keys are kept in the database")


def sethub_failing(*args: str) -> str:
    env = environment()
    done = subprocess.run(
        [*sethub_command(), *args], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


async def test_sethub_keys_manage_the_key_set_in_the_database(postgres_url: PostgresURL) -> None:
    db = ("--db", postgres_url.dsn)
    assert "no signing keys in database" in sethub_failing("keys", "list", *db)
    made = sethub_ok("keys", "generate", "--alg", "ES256", *db)
    first = re.fullmatch(r"generated ES256 key (\S+) in database postgresql://.*\n", made)[1]
    rotated = sethub_ok("keys", "rotate", "--grace", "0", *db)
    second = re.fullmatch(r"published ES256 key (\S+); it signs from .*\n", rotated)[1]
    assert "cannot be retired" in sethub_failing("keys", "retire", second, *db)
    assert sethub_ok("keys", "retire", first, *db) == f"retired key {first}\n"
    listing = sethub_ok("keys", "list", *db).splitlines()
    assert len(listing) == 2 and listing[1].split()[:3] == [second, "ES256", "active"]
    assert kids(json.loads(sethub_ok("keys", "jwks", *db))) == {second}
    assert await query(postgres_url, "SELECT kid FROM signing_keys") == [(second,)]
    assert await query(postgres_url, "SELECT generation FROM signing_key_set") == [(3,)]
