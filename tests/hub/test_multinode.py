"""Several `sethub serve` processes on one PostgreSQL database are one hub.

Real nodes (subprocesses, as an operator runs them) on a fresh schema of the test run's
database, each with a keys-dir of its own (the signing keys are in the database) and one secret
key, and real loopback subscribers. They check what
issue 15 asks of several nodes: a node hears, through LISTEN/NOTIFY, the work another node
stored; and a fan-out survives a node killed twice mid-way: every delivery arrives, and the only
duplicates are those the killed node had sent but not yet recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.database_url import PostgresURL
from hub.delivery.dispatcher import CLAIM_AHEAD

from ..postgres import query
from .process import run_sethub, sethub_command, wait_healthy
from .support import free_port

# Fast deliveries, a short retry schedule and a claim ttl the settings accept for them: a killed
# node's claims expire within a few seconds and the work is claimed again.
NODE_FLAGS = (
    "--allow-private-callbacks",
    "--log-level",
    "warning",
    "--signing-algorithm",
    "ES256",
    "--signing-workers",
    "1",
    "--subscribe-rate",
    "0",
    "--subscribe-rate-per-callback-host",
    "0",
    "--publish-rate",
    "0",
    "--poll-interval",
    "0.2",
    "--retry-schedule",
    "0.2,0.5,1,1,1,1",
    "--retry-jitter",
    "0",
    "--delivery-timeout",
    "1",
    "--verify-timeout",
    "1",
    "--claim-ttl",
    "3.5",
    "--shutdown-timeout",
    "0.5",
)
MAX_CONCURRENT_DELIVERIES = 16
PER_SUBSCRIPTION = 4


@dataclass
class Node:
    """One `sethub serve` process of the hub."""

    port: int
    flags: tuple[str, ...]
    work: Path
    process: subprocess.Popen[str] | None = None
    log: Path | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    async def start(self, url: PostgresURL, secret_key: str, public_url: str = "") -> None:
        """Start (or restart) the process; nodes of one hub share `public_url`, the URL in its
        topics and SETs (the address of a load balancer in front of them)."""
        if public_url:
            self.flags = (*self.flags, "--public-url", public_url)
        self.starts += 1
        self.log = self.work / f"node-{self.port}-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
        env["SETHUB_SECRET_KEY"] = secret_key
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    *sethub_command(),
                    "serve",
                    "--db",
                    url.dsn,
                    "--port",
                    str(self.port),
                    "--keys-dir",
                    str(self.work / f"keys-{self.port}"),  # unused: the keys are in the database
                    *self.flags,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
        await wait_healthy(self)  # type: ignore[arg-type]  # it has .process, .base, .output

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Receiver:
    """A loopback subscriber: answers verifications, records each delivery's event (the SET's
    txn, or a content body) and answers 202, counting the requests it answers at once; or,
    `hanging`, never answers a delivery."""

    hanging: bool = False
    answer_after: float = 0.0  # seconds before answering a delivery
    received: list[str] = field(default_factory=list)
    active: int = 0  # deliveries being answered now
    most_active: int = 0
    arrived_at: dict[str, float] = field(default_factory=dict)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    @property
    def callback(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/cb"))

    async def _verify(self, request: web.Request) -> web.Response:
        return web.Response(text=request.query.get("hub.challenge", ""))

    async def _deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hanging:
            await self.released.wait()
            return web.Response(status=503)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.answer_after)
        finally:
            self.active -= 1
        identity = request.content_type == "application/secevent+jwt"
        event = txn_of(body) if identity else body.decode()
        self.received.append(event)
        self.arrived_at.setdefault(event, time.monotonic())
        return web.Response(status=202)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cb", self._verify)
        app.router.add_post("/cb", self._deliver)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())
        await self.server.start_server()

    async def close(self) -> None:
        self.released.set()
        if self.server is not None:
            await self.server.close()


def txn_of(token: bytes) -> str:
    """The txn claim of a SET (read, not verified: what is counted here is arrivals)."""
    payload = token.split(b".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))["txn"])


@pytest.fixture
def secret_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
async def hub_nodes(tmp_path: Path) -> AsyncIterator[Callable[..., Node]]:
    """Makes nodes on free ports; stops every one still running at the end."""
    made: list[Node] = []

    def make(*flags: str) -> Node:
        node = Node(free_port(), (*NODE_FLAGS, *flags), tmp_path)
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: object) -> Receiver:
        receiver = Receiver(**kwargs)  # type: ignore[arg-type]
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        await receiver.close()


def create_token(url: PostgresURL, scope: str) -> str:
    done = run_sethub("tokens", "create", "--db", url.dsn, "--scope", scope)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def subscribe(
    session: aiohttp.ClientSession, node: Node, topic: str, receiver: Receiver, token: str
) -> None:
    form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": receiver.callback}
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{node.base}/hub", data=form, headers=headers) as response:
        assert response.status == 202, await response.text()


async def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)


async def active_subscriptions(url: PostgresURL) -> int:
    rows = await query(url, "SELECT COUNT(*) FROM subscriptions WHERE ended_at IS NULL")
    return int(rows[0][0])


async def until_subscribed(url: PostgresURL, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while await active_subscriptions(url) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} subscriptions not active within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_node_delivers_at_once_what_another_node_stored(
    postgres_url: PostgresURL,
    secret_key: str,
    hub_nodes: Callable[..., Node],
    receivers: Callable[..., Receiver],
) -> None:
    """Node B stores an event; node A, which polls every 30 s, delivers it within about a
    second: B's commit notified A. (B cannot deliver it: its every claim slot holds a delivery
    to a subscriber that never answers.)"""
    slow_b = hub_nodes(
        "--max-concurrent-deliveries", "1", "--delivery-timeout", "20", "--claim-ttl", "61"
    )
    await slow_b.start(postgres_url, secret_key, slow_b.base)
    token = create_token(postgres_url, "publish")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    hanging = [receivers(hanging=True) for _ in range(CLAIM_AHEAD)]
    fast = receivers()
    for receiver in (*hanging, fast):
        await receiver.start()
    async with aiohttp.ClientSession() as session:
        for name in ("stuck", "news"):
            async with session.post(
                f"{slow_b.base}/topics/{name}", data=b"first", headers=headers
            ) as response:
                assert response.status == 202, await response.text()
        for receiver in hanging:
            await subscribe(session, slow_b, f"{slow_b.base}/topics/stuck", receiver, token)
        await subscribe(session, slow_b, f"{slow_b.base}/topics/news", fast, token)
        await until_subscribed(postgres_url, len(hanging) + 1)
        async with session.post(
            f"{slow_b.base}/topics/stuck", data=b"stuck", headers=headers
        ) as response:
            assert response.status == 202
        for _ in range(200):  # B claims the four deliveries that never get an answer
            claimed = await query(
                postgres_url, "SELECT COUNT(*) FROM deliveries WHERE claimed_by IS NOT NULL"
            )
            if claimed[0][0] == len(hanging):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("node B did not claim the stuck deliveries")

        node_a = hub_nodes("--poll-interval", "30")
        await node_a.start(postgres_url, secret_key, slow_b.base)
        await asyncio.sleep(0.5)  # A's first claim at start-up has found nothing to do
        sent = time.monotonic()
        async with session.post(
            f"{slow_b.base}/topics/news", data=b"wake up", headers=headers
        ) as response:
            assert response.status == 202
        await until(lambda: "wake up" in fast.received, 10, "the event published to B")
    took = fast.arrived_at["wake up"] - sent
    print(f"\npublished to node B, delivered by node A after {took * 1000:.0f} ms")
    assert took < 1.5


async def test_three_nodes_deliver_everything_when_one_is_killed_twice(
    postgres_url: PostgresURL,
    secret_key: str,
    hub_nodes: Callable[..., Node],
    receivers: Callable[..., Receiver],
) -> None:
    """3 nodes, 2,000 identity events x 10 subscribers, published across the nodes; one node is
    SIGKILLed twice during the fan-out and restarted. No subscriber ever has more requests open
    than the per-subscription cap, counted over all nodes. Every (event, subscriber) arrives; the
    duplicates are bounded by what the killed node could hold sent but not yet recorded at each
    kill: its requests on the wire (max-concurrent-deliveries) and the outcomes it waits to
    write (at most its claim capacity, max-concurrent-deliveries x CLAIM_AHEAD)."""
    events, subscribers, kills = 2000, 10, 2
    flags = (
        "--max-concurrent-deliveries",
        str(MAX_CONCURRENT_DELIVERIES),
        "--max-concurrent-per-subscription",
        str(PER_SUBSCRIPTION),
    )
    nodes = [hub_nodes(*flags) for _ in range(3)]
    public = nodes[0].base
    await nodes[0].start(postgres_url, secret_key, public)  # migrates, makes the signing key
    await asyncio.gather(*(node.start(postgres_url, secret_key, public) for node in nodes[1:]))
    token = create_token(postgres_url, "publish subscribe")
    # Answers take a few milliseconds, so that each node would have as many requests open to
    # a subscriber as it may, and more than the cap between them if it did not hold hub-wide.
    subscribed = [receivers(answer_after=0.005) for _ in range(subscribers)]
    for receiver in subscribed:
        await receiver.start()
    victim = nodes[1]
    started = time.monotonic()

    async with aiohttp.ClientSession() as session:
        for n, receiver in enumerate(subscribed):  # requests to every node, verified by any
            node = nodes[n % len(nodes)]
            await subscribe(session, node, f"{public}/topics/login", receiver, token)
        await until_subscribed(postgres_url, subscribers)

        batches = [list(range(first, min(first + 25, events))) for first in range(0, events, 25)]

        async def publish(batch: list[int], turn: int) -> None:
            """To the nodes in turn; a batch that meets a killed node goes again, to the next
            one, with the same ids: it is published once."""
            body = [
                {
                    "type": "login-failed",
                    "subject": {"format": "email", "email": f"user{n}@example.com"},
                    "data": {"reason": "test"},
                    "txn": f"event-{n}",
                    "id": f"event-{n}",
                }
                for n in batch
            ]
            for attempt in range(50):
                node = nodes[(turn + attempt) % len(nodes)]
                try:
                    async with session.post(
                        f"{node.base}/events",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=aiohttp.ClientTimeout(total=10),
                    ) as answer:
                        if answer.status == 202:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
            raise AssertionError(f"batch {batch[0]} was never published")

        async def publish_all() -> None:
            queue = list(enumerate(batches))

            async def publisher() -> None:
                while queue:
                    turn, batch = queue.pop(0)
                    await publish(batch, turn)

            await asyncio.gather(*(publisher() for _ in range(4)))

        def arrived() -> int:
            return sum(len(receiver.received) for receiver in subscribed)

        claims_at_kill: list[int] = []

        async def kill_twice() -> None:
            for share in (0.2, 0.55):
                await until(
                    lambda s=share: arrived() >= s * events * subscribers,
                    40,
                    f"{share:.0%} of the deliveries before a kill",
                )
                for _ in range(250):  # a kill while it holds claims: mid-way through its work
                    held = await query(
                        postgres_url,
                        "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
                        " AND claimed_by LIKE ?",
                        f"%:{victim.pid}:%",
                    )
                    if held[0][0]:
                        break
                    await asyncio.sleep(0.02)
                victim.kill()
                claims_at_kill.append(int(held[0][0]))
                await victim.start(postgres_url, secret_key)

        await asyncio.gather(publish_all(), kill_twice())

    expected = {f"event-{n}" for n in range(events)}
    for receiver in subscribed:
        await until(
            lambda r=receiver: expected <= set(r.received), 45, "every event at every subscriber"
        )
    await until(lambda: arrived() >= events * subscribers, 1, "the count")
    elapsed = time.monotonic() - started
    for _ in range(200):  # the last outcomes are written just after their answers
        rows = await query(postgres_url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state")
        if dict(rows) == {"delivered": events * subscribers}:
            break
        await asyncio.sleep(0.05)
    assert dict(rows) == {"delivered": events * subscribers}
    await asyncio.sleep(0.3)  # a straggling duplicate, if any, is counted too
    duplicates = arrived() - events * subscribers  # each arrived at least once: the rest
    capacity = MAX_CONCURRENT_DELIVERIES + MAX_CONCURRENT_DELIVERIES * CLAIM_AHEAD
    print(
        f"\n{events * subscribers} deliveries by 3 nodes in {elapsed:.1f} s, {kills} kills;"
        f" the killed node held {claims_at_kill} claims; duplicates: {duplicates}"
        f" (bound {kills} x {capacity})"
    )
    most = max(receiver.most_active for receiver in subscribed)
    print(f"most requests at once to one subscriber: {most} (cap {PER_SUBSCRIPTION})")
    assert len(claims_at_kill) == kills
    assert most <= PER_SUBSCRIPTION
    assert 0 <= duplicates <= kills * capacity
