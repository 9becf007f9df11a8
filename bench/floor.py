"""What one delivery costs at the least on this machine, step by step: the floor under the ratio
bench/fanout.py reports.

    python bench/floor.py [--requests 30000] [--alg ES256|RS256] [--db PATH]

Each step is measured alone, with no hub running:
- signing one SET with set_tokens.lowlevel.sign_claims (CPU per SET, in this process);
- POSTing that SET to loopback subscribers, 64 requests in flight: the client CPU per request of
  aiohttp's client (what bench/fanout.py's baseline uses) and of the hub's own HTTP/1.1 client;
- what the subscriber process spends per request (in bench/fanout.py it shares the two cores
  with whichever client is sending);
- the store's work per delivery on a real SQLite file: publish (group commits of 8 events to 10
  subscriptions), claim, start (lease check and renewal) and settle (as the dispatcher batches
  them), timed on the store's thread.
It then prints the best ratio a hub could reach in bench/fanout.py if a delivery cost no more
than these steps and the machine were the limit: (subscriber + aiohttp POST) / (subscriber +
signing + hub POST + store), both sides using the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from set_tokens import SigningKey
from set_tokens.lowlevel import build_claims, sign_claims
from yarl import URL

from _harness import insert_subscriptions, subscribers
from hub.outbound.pool import ConnectionPool
from hub.store import (
    Attempt,
    DeliveryState,
    EventKind,
    NewEvent,
    PublishRequest,
    Settlement,
    open_store,
)

IN_FLIGHT = 64
SUBSCRIBERS = 10
HEADERS = {"Content-Type": "application/secevent+jwt", "Accept": "application/json",
           "Link": '<http://127.0.0.1/hub>; rel="hub", <http://127.0.0.1/t>; rel="self"'}
TOPIC = "http://127.0.0.1/topics/login"


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def subscriber_pid() -> int:
    """The subscriber process bench/_harness.py started (a child of this one)."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"_subscribers.py" in command:
            return int(entry.name)
    raise RuntimeError("no subscriber process found")


def signing_cost(alg: str, count: int) -> tuple[bytes, float]:
    claims = build_claims(
        issuer="http://127.0.0.1/", audience="http://127.0.0.1", event_type="urn:bench",
        payload={"reason": "bench"}, subject={"format": "email", "email": "jane@example.com"},
        txn="floor",
    )
    key = SigningKey.generate(alg)
    started = cpu_now()
    for _ in range(count):
        token = sign_claims(claims, key)
    return token.encode(), (cpu_now() - started) / count


async def post_cost(
    send: Callable[[int], Awaitable[None]], ports: list[int], requests: int, pid: int
) -> tuple[float, float, float]:
    """Requests/s, this process's CPU per request, the subscriber process's CPU per request."""
    targets = iter([ports[n % len(ports)] for n in range(requests)])

    async def sender() -> None:
        for port in targets:
            await send(port)

    cpu, theirs, started = cpu_now(), process_cpu(pid), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    return (requests / elapsed, (cpu_now() - cpu) / requests,
            (process_cpu(pid) - theirs) / requests)


async def store_cost(db: Path, events: int) -> dict[str, float]:
    """Seconds per delivery of each kind of store transaction, run the way the hub runs them."""
    store = await open_store(db)
    spent = {"publish": 0.0, "claim": 0.0, "start": 0.0, "settle": 0.0}
    try:
        callbacks = [f"http://127.0.0.1:{9000 + n}/cb" for n in range(SUBSCRIBERS)]
        await insert_subscriptions(db, TOPIC, callbacks)
        body = json.dumps({"type": "urn:bench", "payload": {}, "txn": "x",
                           "sub_id": {"format": "opaque", "id": "x"}}).encode()
        event = NewEvent(topic=TOPIC, content_type="application/secevent+jwt", body=body,
                         kind=EventKind.IDENTITY, event_type="urn:bench")
        for _ in range(0, events, 8):
            started = time.perf_counter()
            await store.deliveries.publish_requests(
                [PublishRequest((event,), time.time()) for _ in range(8)]
            )
            spent["publish"] += time.perf_counter() - started
        delivered = 0
        while True:
            started = time.perf_counter()
            claimed = (await store.deliveries.claim_due(
                owner="floor", now=time.time(), ttl=60, limit=64, per_subscription=28
            )).deliveries
            spent["claim"] += time.perf_counter() - started
            if not claimed:
                break
            for first in range(0, len(claimed), 44):
                chunk = claimed[first:first + 44]
                started = time.perf_counter()
                await store.deliveries.start_attempts(
                    [(item.id, item.lease) for item in chunk], now=time.time(), ttl=60
                )
                spent["start"] += time.perf_counter() - started
                settled = time.time()
                batch = [Settlement(item.id, item.subscription_id,
                                    Attempt(settled, 0.001, "delivered", 202, None),
                                    DeliveryState.DELIVERED, lease=item.lease)
                         for item in chunk]
                started = time.perf_counter()
                await store.deliveries.record_many(batch)
                spent["settle"] += time.perf_counter() - started
            delivered += len(claimed)
    finally:
        await store.close()
    return {step: seconds / delivered for step, seconds in spent.items()}


async def main(args: argparse.Namespace) -> None:
    body, sign = signing_cost(args.alg, 3000 if args.alg == "ES256" else 500)
    async with subscribers(SUBSCRIBERS) as found:
        ports, pid = found["healthy"], subscriber_pid()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=IN_FLIGHT)
        ) as session:

            async def with_aiohttp(port: int) -> None:
                async with session.post(f"http://127.0.0.1:{port}/cb", data=body,
                                        headers=HEADERS) as response:
                    await response.read()

            await post_cost(with_aiohttp, ports, 2000, pid)  # connections opened, code warm
            aio = await post_cost(with_aiohttp, ports, args.requests, pid)

        async def loopback(host: str, port: int) -> list[str]:
            return [host]

        pool = ConnectionPool(loopback, user_agent="floor", limit=IN_FLIGHT,
                              limit_per_host=IN_FLIGHT)
        urls = {port: URL(f"http://127.0.0.1:{port}/cb") for port in ports}

        async def with_hub_client(port: int) -> None:
            await pool.request("POST", urls[port], headers=HEADERS, body=body, timeout=30,
                               max_body=4096, body_on_success=False)

        await post_cost(with_hub_client, ports, 2000, pid)
        own = await post_cost(with_hub_client, ports, args.requests, pid)
        await pool.close()
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="sethub-floor-")) / "f.db"
    store = await store_cost(db, args.events)
    subscriber = (aio[2] + own[2]) / 2
    hub = sign + own[1] + sum(store.values())
    print(f"step (one delivery; {args.alg})            microseconds")
    print(f"sign one SET                              {sign * 1e6:8.1f}")
    print(f"POST, aiohttp client (the baseline)       {aio[1] * 1e6:8.1f}   ({aio[0]:.0f}/s)")
    print(f"POST, the hub's client                    {own[1] * 1e6:8.1f}   ({own[0]:.0f}/s)")
    print(f"subscriber process, per request           {subscriber * 1e6:8.1f}")
    for step, seconds in store.items():
        print(f"store: {step:<35}{seconds * 1e6:8.1f}")
    print(f"hub floor (sign + POST + store)           {hub * 1e6:8.1f}")
    print(f"best fan-out ratio on shared cores: {(subscriber + aio[1]) / (subscriber + hub):.0%}"
          f" (the baseline's cost per delivery over the floor's, subscribers included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--events", type=int, default=2000, help="events stored (x10 deliveries)")
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256", "PS256", "EdDSA"))
    parser.add_argument("--db", default=None)
    asyncio.run(main(parser.parse_args()))
