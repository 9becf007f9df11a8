"""Many subscriptions on one topic: publish latency as they grow, hub RSS, time to fan out.

    python bench/scale.py [--max 100000] [--fanout]

Subscriptions are written straight into the hub's database before it starts (verifying 100,000
callbacks one by one would measure the subscribers, not the hub); their callbacks point at a few
loopback servers. For each size the hub publishes identity events and the script prints the mean
POST /events latency; `--fanout` also times delivering one event to every subscription.
Targets (issue 7): RSS <= 300 MB at 100,000 subscriptions; publish round trips O(1).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from _harness import insert_subscriptions, running_hub_process, stats, subscribers

EVENT = {"type": "login-failed", "subject": {"format": "email", "email": "jane@example.com"}}
TOPIC_PATH = "/topics/login"
SIZES = (1, 10, 100, 1_000, 10_000, 100_000)


async def seed(db: Path, base: str, ports: list[int], count: int) -> None:
    callbacks = [f"http://127.0.0.1:{ports[n % len(ports)]}/cb?n={n}" for n in range(count)]
    await insert_subscriptions(db, base + TOPIC_PATH, callbacks)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set size
            return int(line.split()[1]) / 1024
    return 0.0


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="sethub-scale-"))
    print(f"{'subscriptions':>13} {'publish ms':>11} {'peak RSS MB':>12} {'fan-out s':>10}")
    async with subscribers(8) as ports:
        for size in (s for s in SIZES if s <= args.max):
            db = work / f"hub-{size}.db"
            async with running_hub_process(db=db) as (base, token, pid):
                await seed(db, base, ports["healthy"], size)
                headers = {"Authorization": f"Bearer {token}"}
                before = sum(s["count"] for s in await stats(ports["healthy"]))
                async with aiohttp.ClientSession() as session:
                    timings = []
                    rounds = 1 if args.fanout else 5
                    for _ in range(rounds):
                        started = time.perf_counter()
                        async with session.post(f"{base}/events", json=EVENT,
                                                headers=headers) as response:
                            assert response.status == 202, await response.text()
                        timings.append(time.perf_counter() - started)
                fanout = "-"
                if args.fanout:
                    started = time.perf_counter()
                    target = before + size
                    while sum(s["count"] for s in await stats(ports["healthy"])) < target:  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
                    fanout = f"{time.perf_counter() - started:.1f}"
                mean_ms = sum(timings) / len(timings) * 1000
                print(f"{size:>13} {mean_ms:>11.1f} {rss_mb(pid):>12.0f} {fanout:>10}",
                      flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=100_000)
    parser.add_argument("--fanout", action="store_true", help="also time one full fan-out")
    asyncio.run(main(parser.parse_args()))
