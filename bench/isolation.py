"""Ten healthy subscribers, with and without one that never answers: the healthy delivery rate.

    python bench/isolation.py [--events 300] [--alg ES256]

Target (issue 7): a dead subscriber cuts the healthy rate by at most 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from _harness import running_hub, stats, subscribe_all, subscribers

EVENT = {"type": "login-failed", "subject": {"format": "email", "email": "jane@example.com"},
         "data": {"reason": "bench"}}


async def run(events: int, dead: int, alg: str, healthy: int = 10) -> float:
    async with running_hub("--signing-algorithm", alg, "--delivery-timeout", "5",
                           "--retry-schedule", "30") as (base, token), \
            subscribers(healthy, dead) as ports:
        topic = f"{base}/topics/login"
        await subscribe_all(base, topic, ports["healthy"] + ports["dead"], token=token)
        headers = {"Authorization": f"Bearer {token}"}
        started = time.time()
        async with aiohttp.ClientSession() as session:
            for _ in range(events // 50):
                async with session.post(f"{base}/events", json=[EVENT] * 50,
                                        headers=headers) as response:
                    assert response.status == 202, await response.text()
        expected = events * healthy
        while True:
            got = sum(s["count"] for s in await stats(ports["healthy"]))
            if got >= expected:
                break
            await asyncio.sleep(0.05)
        return expected / (time.time() - started)


async def main(args: argparse.Namespace) -> None:
    baseline = await run(args.events, 0, args.alg)
    with_dead = await run(args.events, 1, args.alg)
    print(f"{'case':<32} {'healthy deliveries/s':>21}")
    print(f"{'10 healthy':<32} {baseline:>21.0f}")
    print(f"{'10 healthy + 1 never answering':<32} {with_dead:>21.0f}")
    print(f"healthy rate with a dead subscriber: {with_dead / baseline:.1%} of baseline "
          f"(target >= 90%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--alg", default="ES256", choices=("ES256", "RS256", "EdDSA", "PS256"))
    asyncio.run(main(parser.parse_args()))
