"""Fan-out throughput and latency: `sethub serve` delivering SETs to S loopback subscribers.

    python bench/fanout.py [--subscribers 10] [--events 500] [--alg ES256|RS256]
                           [--secret] [--rate 0] [--publishers 8] [--db PATH]

Prints deliveries/s and publish->delivery latency p50/p99 for the hub, next to the baseline: a
plain aiohttp client POSTing the same bodies (a SET of the same event, signed once, with the headers
the hub sends) to the same subscribers in the same run, 64 requests at a time. The hub gets the
same concurrency: --per-subscription defaults to 64 / S (the hub's own default, 2, is the polite
setting for real receivers; pass --per-subscription 2 to measure it).
With --rate N events are published at N events/s (the latency target is at 500/s), by up to
--publishers concurrent clients, so a slow answer does not hold the next event back.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import aiohttp
from set_tokens import SigningKey
from set_tokens.lowlevel import build_claims, sign_claims

from _harness import cpu_seconds, running_hub_process, stats, subscribe_all, subscribers

EVENT = {"type": "login-failed", "subject": {"format": "email", "email": "jane@example.com"},
         "data": {"reason": "bench"}}
EVENT_URI = "urn:sethub:event-type:login-failed"
TOPIC = "http://127.0.0.1/topics/login"
CONCURRENCY = 64  # the baseline's requests in flight, and the hub's --max-concurrent-deliveries


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
    args: argparse.Namespace, ports: list[int]
) -> tuple[float, list[float], float]:
    flags = ["--signing-algorithm", args.alg, "--poll-interval", "0.2",
             "--max-concurrent-per-subscription", str(per_subscription(args))]
    db = Path(args.db) if args.db else None
    async with running_hub_process(*flags, db=db) as (base, token, pid):
        topic = f"{base}/topics/login"
        extra = {"hub.secret": "bench-secret"} if args.secret else {}
        await subscribe_all(base, topic, ports, token=token, **extra)
        before = sum(s["count"] for s in await stats(ports))
        headers = {"Authorization": f"Bearer {token}"}
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        next_event = iter(range(args.events))

        async def publisher(session: aiohttp.ClientSession) -> None:
            for n in next_event:  # shared: each event is published once, by whichever is free
                if args.rate:
                    await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
                event = {**EVENT, "txn": f"{time.time()}"}
                async with session.post(f"{base}/events", json=event,
                                        headers=headers) as response:
                    assert response.status == 202, await response.text()

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(publisher(session) for _ in range(args.publishers)))
        published = time.perf_counter() - started
        expected = before + args.events * len(ports)
        while sum(s["count"] for s in await stats(ports)) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        latencies = [lat for s in await stats(ports) for lat in s["latencies"]]
        print(f"published {args.events} events in {published:.2f} s "
              f"({args.events / published:.0f}/s), all delivered after {elapsed:.2f} s")
        return args.events * len(ports) / elapsed, latencies, cpu / (args.events * len(ports))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def main(args: argparse.Namespace) -> None:
    async with subscribers(args.subscribers) as ports:
        # The baseline runs before and after the hub and counts as their mean: on a shared VM a
        # single short run can be off by half.
        body = baseline_body(args.alg)
        before = await baseline(ports["healthy"], args.events, body)
        hub_rate, latencies, cpu = await hub_run(args, ports["healthy"])
        after = await baseline(ports["healthy"], args.events, body)
        base_rate = (before + after) / 2
    print(f"subscribers={args.subscribers} events={args.events} alg={args.alg} "
          f"secret={args.secret} rate={args.rate or 'max'} "
          f"per-subscription={per_subscription(args)} (baseline: {CONCURRENCY} in flight)")
    print(f"{'':<22} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'baseline aiohttp POST':<22} {base_rate:>13.0f} {'-':>8} {'-':>8}"
          f"   (before {before:.0f}, after {after:.0f})")
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    print(f"{'sethub':<22} {hub_rate:>13.0f} {p50:>8.1f} {p99:>8.1f}")
    print(f"hub CPU (with its signing processes): {cpu * 1000:.3f} ms per delivery")
    print(f"ratio to baseline: {hub_rate / base_rate:.1%}; "
          f"{len(latencies)} latencies, mean {statistics.fmean(latencies) * 1000:.1f} ms"
          if latencies else f"ratio to baseline: {hub_rate / base_rate:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256", "PS256", "EdDSA"))
    parser.add_argument("--secret", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (0: as fast as possible)")
    parser.add_argument("--publishers", type=int, default=8,
                        help="concurrent publishing clients (each POSTs one event at a time)")
    parser.add_argument("--db", default=None)
    parser.add_argument("--per-subscription", type=int, default=0,
                        help="the hub's --max-concurrent-per-subscription (0: the baseline's "
                             "concurrency shared by the subscribers)")
    asyncio.run(main(parser.parse_args()))
