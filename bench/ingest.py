"""`POST /events` throughput, each event durable before its 202, next to a trivial handler.

    python bench/ingest.py [--seconds 5] [--batch 1,10,100] [--concurrency 16]

The baseline is an aiohttp app (bench/_trivial.py) whose handler parses the JSON body and answers
202: the cost of HTTP and JSON alone, measured in the same run with the same client, before and
after the hub. Like the hub, it runs in a process of its own.
Target (issue 7): >= 60% of the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp

from _harness import HERE, cpu_seconds, free_port, running_hub_process, wait_for

EVENT = {"type": "login-failed", "subject": {"format": "email", "email": "jane@example.com"},
         "data": {"reason": "bench", "ip_address": "192.0.2.1"}}


async def hammer(url: str, headers: dict[str, str], batch: int, seconds: float,
                 concurrency: int) -> float:
    body = EVENT if batch == 1 else [EVENT] * batch
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"{response.status}: {await response.text()}")
                done += batch

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def trivial_server() -> AsyncIterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "_trivial.py"), "--port", str(port)])
    try:
        await wait_for(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}/events"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def main(args: argparse.Namespace) -> None:
    batches = [int(b) for b in args.batch.split(",")]

    async def trivial_rates() -> dict[int, float]:
        async with trivial_server() as trivial:
            return {b: await hammer(trivial, {}, b, args.seconds, args.concurrency)
                    for b in batches}

    # The baseline runs before and after the hub and counts as their mean: on a shared VM the
    # machine's speed drifts from one minute to the next.
    before = await trivial_rates()
    ours: dict[int, float] = {}
    cpu: dict[int, float] = {}  # the hub's CPU seconds per event
    async with running_hub_process() as (base, token, pid):
        headers = {"Authorization": f"Bearer {token}"}
        for b in batches:
            used = cpu_seconds(pid)
            ours[b] = await hammer(f"{base}/events", headers, b, args.seconds, args.concurrency)
            cpu[b] = (cpu_seconds(pid) - used) / (ours[b] * args.seconds)
    after = await trivial_rates()
    print(f"{'batch':>5} {'trivial events/s':>17} {'sethub events/s':>16} {'ratio':>7}"
          f" {'hub CPU/event':>14}   (trivial before / after)")
    for b in batches:
        baseline = (before[b] + after[b]) / 2
        print(f"{b:>5} {baseline:>17.0f} {ours[b]:>16.0f} {ours[b] / baseline:>7.1%}"
              f" {cpu[b] * 1000:>11.3f} ms   ({before[b]:.0f} / {after[b]:.0f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", default="1,10,100")
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
