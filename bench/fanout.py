"""Fan-out throughput and latency: `sethub serve` delivering SETs to S loopback subscribers.

    python bench/fanout.py [--subscribers 10] [--events 500] [--alg ES256|RS256]
                           [--secret] [--rate 0] [--publishers 8] [--db PATH|URL] [--nodes N]
    python bench/fanout.py --compare [--db postgresql://USER@HOST:PORT/DB] [...]

Prints deliveries/s and publish->delivery latency p50/p99 for the hub, next to the baseline: a
plain aiohttp client POSTing the same bodies (a SET of the same event, signed once, with the headers
the hub sends) to the same subscribers in the same run, 64 requests at a time. The hub gets the
same concurrency: --per-subscription defaults to 64 / S (the hub's own default, 2, is the polite
setting for real receivers; pass --per-subscription 2 to measure it).
With --db postgresql://... the hub runs on a new database of that server (made for the run,
dropped after it), as --nodes N processes sharing it; the publishers are spread over the nodes.
--compare runs SQLite, PostgreSQL with one node and with two nodes in turn, against the same
subscribers, and prints them side by side with their ratios.
With --rate N events are published at N events/s (the latency target is at 500/s), by up to
--publishers concurrent clients, so a slow answer does not hold the next event back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import aiohttp
from set_tokens import SigningKey
from set_tokens.lowlevel import build_claims, sign_claims

from _harness import (
    cpu_seconds,
    database_commits,
    database_cpu_seconds,
    fresh_postgres,
    running_hub_nodes,
    stats,
    subscribe_all,
    subscribers,
)

EVENT = {"type": "login-failed", "subject": {"format": "email", "email": "jane@example.com"},
         "data": {"reason": "bench"}}
EVENT_URI = "urn:sethub:event-type:login-failed"
TOPIC = "http://127.0.0.1/topics/login"
CONCURRENCY = 64  # the baseline's requests in flight, and the hub's --max-concurrent-deliveries
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def baseline_body(alg: str) -> bytes:
    """A SET like the hub's for this event. Its txn is not a number, so the subscribers parse it
    as they parse the hub's and count no latency for it."""
    claims = build_claims(
        issuer="http://127.0.0.1/", audience="http://127.0.0.1", event_type=EVENT_URI,
        payload={"reason": "bench"}, subject={"format": "email", "email": "jane@example.com"},
        txn="baseline",
    )
    return sign_claims(claims, SigningKey.generate(alg)).encode()


async def baseline(ports: list[int], events: int, body: bytes,
                   concurrency: int = CONCURRENCY) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for _ in range(events):
        for port in ports:
            queue.put_nowait(port)
    total = queue.qsize()

    headers = {"Content-Type": "application/secevent+jwt", "Accept": "application/json",
               "Link": f'<http://127.0.0.1/hub>; rel="hub", <{TOPIC}>; rel="self"'}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            port = queue.get_nowait()
            async with session.post(f"http://127.0.0.1:{port}/cb", data=body,
                                    headers=headers) as r:
                await r.read()

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def per_subscription(args: argparse.Namespace) -> int:
    return args.per_subscription or -(-CONCURRENCY // args.subscribers)


async def hub_run(
    args: argparse.Namespace, ports: list[int], db: str | None = None, nodes: int = 1
) -> tuple[float, list[float], float]:
    """One run: the hub on `db` (None: a new SQLite file) with `nodes` nodes; deliveries/s,
    the latencies and the hub's CPU seconds per delivery (its nodes', not PostgreSQL's)."""
    flags = ["--signing-algorithm", args.alg, "--poll-interval", "0.2",
             "--max-concurrent-per-subscription", str(per_subscription(args))]
    async with contextlib.AsyncExitStack() as stack:
        if db is not None and is_postgres(db):
            db = await stack.enter_async_context(fresh_postgres(db))
        bases, token, pids = await stack.enter_async_context(
            running_hub_nodes(*flags, db=db, nodes=nodes)
        )
        # Subscribed through the first node; every node serves every subscription.
        topic = f"{bases[0]}/topics/login"
        extra = {"hub.secret": "bench-secret"} if args.secret else {}
        await subscribe_all(bases[0], topic, ports, token=token, **extra)
        before = sum(s["count"] for s in await stats(ports))
        headers = {"Authorization": f"Bearer {token}"}
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        postgres = db is not None and is_postgres(db)
        db_before = await database_cpu_seconds(db) if db is not None and postgres else {}
        commits_before = await database_commits(db) if db is not None and postgres else 0
        started = time.perf_counter()
        next_event = iter(range(args.events))

        async def publisher(session: aiohttp.ClientSession, base: str) -> None:
            for n in next_event:  # shared: each event is published once, by whichever is free
                if args.rate:
                    await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
                event = {**EVENT, "txn": f"{time.time()}"}
                async with session.post(f"{base}/events", json=event,
                                        headers=headers) as response:
                    assert response.status == 202, await response.text()

        async with aiohttp.ClientSession() as session:
            # The publishers are spread over the nodes, as a load balancer would spread them.
            await asyncio.gather(*(publisher(session, bases[n % len(bases)])
                                   for n in range(args.publishers)))
        published = time.perf_counter() - started
        expected = before + args.events * len(ports)
        while sum(s["count"] for s in await stats(ports)) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        if db is not None and postgres:  # the server's work for this hub counts too
            used = await database_cpu_seconds(db)
            cpu += sum(seconds - db_before.get(pid, 0.0) for pid, seconds in used.items())
            await asyncio.sleep(1.0)  # the statistics collector's delay
            commits = await database_commits(db) - commits_before
            print(f"{describe(db, nodes)}: {commits} transactions committed,"
                  f" {commits / (args.events * len(ports)):.2f} per delivery")
        latencies = [lat for s in await stats(ports) for lat in s["latencies"]]
        print(f"{describe(db, nodes)}: published {args.events} events in {published:.2f} s "
              f"({args.events / published:.0f}/s), all delivered after {elapsed:.2f} s")
        return args.events * len(ports) / elapsed, latencies, cpu / (args.events * len(ports))


def describe(db: str | None, nodes: int) -> str:
    if db is None or not is_postgres(db):
        return "SQLite"
    return f"PostgreSQL, {nodes} node{'s' if nodes > 1 else ''}"


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def main(args: argparse.Namespace) -> None:
    if args.compare:
        server = args.db if args.db and is_postgres(args.db) else DEFAULT_POSTGRES
        runs = [(None, 1), (server, 1), (server, 2)]
    else:
        runs = [(args.db, args.nodes)]
    async with subscribers(args.subscribers) as ports:
        # The baseline runs before and after the hub and counts as their mean: on a shared VM a
        # single short run can be off by half.
        body = baseline_body(args.alg)
        before = await baseline(ports["healthy"], args.events, body)
        results = [
            (describe(db, nodes), await hub_run(args, ports["healthy"], db, nodes))
            for db, nodes in runs
        ]
        after = await baseline(ports["healthy"], args.events, body)
        base_rate = (before + after) / 2
    print(f"subscribers={args.subscribers} events={args.events} alg={args.alg} "
          f"secret={args.secret} rate={args.rate or 'max'} "
          f"per-subscription={per_subscription(args)} (baseline: {CONCURRENCY} in flight)")
    print(f"{'':<24} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}"
          f" {'baseline':>9} {'vs first':>9}")
    print(f"{'baseline aiohttp POST':<24} {base_rate:>13.0f} {'-':>8} {'-':>8} {'-':>7}"
          f" {'-':>9} {'-':>9}   (before {before:.0f}, after {after:.0f})")
    first = results[0][1][0]
    for name, (rate, latencies, cpu) in results:
        p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        print(f"{name:<24} {rate:>13.0f} {p50:>8.1f} {p99:>8.1f} {cpu * 1000:>7.3f}"
              f" {rate / base_rate:>9.1%} {rate / first:>9.1%}")
    print("CPU ms: CPU per delivery of the hub's processes (their signing processes included)"
          " and, on PostgreSQL, of the server processes serving its database")
    if args.compare:
        _, (pg1, _, _), (pg2, _, _) = (rate for _, rate in results)
        print(f"PostgreSQL 1 node / SQLite: {pg1 / first:.1%} (target >= 70%); "
              f"2 nodes / 1 node: {pg2 / pg1:.1%} (target >= 100%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256", "PS256", "EdDSA"))
    parser.add_argument("--secret", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (0: as fast as possible)")
    parser.add_argument("--publishers", type=int, default=8,
                        help="concurrent publishing clients (each POSTs one event at a time)")
    parser.add_argument("--db", default=None,
                        help="a SQLite file, or a PostgreSQL server's URL: each run makes a new"
                             " database there and drops it at the end")
    parser.add_argument("--nodes", type=int, default=1,
                        help="hub processes on the one database (PostgreSQL only)")
    parser.add_argument("--compare", action="store_true",
                        help="SQLite, PostgreSQL with 1 node and with 2 nodes, side by side"
                             f" (PostgreSQL at --db if it is a URL, else {DEFAULT_POSTGRES})")
    parser.add_argument("--per-subscription", type=int, default=0,
                        help="the hub's --max-concurrent-per-subscription (0: the baseline's "
                             "concurrency shared by the subscribers)")
    asyncio.run(main(parser.parse_args()))
