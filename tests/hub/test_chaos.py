"""SIGKILL `sethub serve` at random moments while 2,000 events fan out to 10 subscribers.

After the last restart every (event, subscription) pair has arrived at least once, duplicates stay
within what can be in flight at a kill, and SQLite's integrity check is ok.

Each round, four concurrent publishers send the round's events until the kill; what a kill
refused goes out again in the next round, while kills are still to come, and what the last one
refused after it. Each restart is a process that loaded the hub beforehand (see
`spare_hub_process`): a restart costs the hub's start-up, not an interpreter's imports.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp

from .process import (
    HubProcess,
    create_token,
    query,
    spare_hub_process,
    start_hub_process,
    start_spare,
)
from .support import free_port, start_subscriber, until

EVENTS = 2000
SUBSCRIBERS = 10
KILLS = 20
PUBLISHERS = 4  # requests in flight at once: the most a kill can leave unanswered
SPARES = 2  # hub processes loading ahead of the restarts that will need them
MAX_IN_FLIGHT = 64  # --max-concurrent-deliveries: the most a kill can leave unsettled
FLAGS = (
    "--allow-private-callbacks",
    "--poll-interval",
    "0.05",
    "--retry-schedule",
    "0.2,0.5,1,1,1,1,1,1,1,1",
    "--max-concurrent-deliveries",
    str(MAX_IN_FLIGHT),
)


async def _publish(base: str, token: str, events: list[int]) -> list[int]:
    """Publish `events` with PUBLISHERS requests at a time, until the hub goes away; return those
    answered 202 (the accepted ones)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    queue = list(reversed(events))
    accepted: list[int] = []

    async def publisher(session: aiohttp.ClientSession) -> None:
        while queue:
            n = queue.pop()
            try:
                async with session.post(
                    f"{base}/topics/chaos", data=f"event-{n}", headers=headers
                ) as response:
                    if response.status == 202:
                        accepted.append(n)
            except aiohttp.ClientError:
                return  # the hub was killed under us: this one was not accepted

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(publisher(session) for _ in range(PUBLISHERS)))
    return accepted


async def test_twenty_sigkills_during_fan_out_lose_nothing(tmp_path: Path) -> None:
    rng = random.Random(8417)
    db, port = tmp_path / "hub.db", free_port()
    running = await start_hub_process(db, port, *FLAGS)
    spares: list[HubProcess] = []
    token = create_token(db)
    subscribers = [await start_subscriber() for _ in range(SUBSCRIBERS)]
    accepted: list[int] = []
    try:
        base = running.base
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
            async with session.post(f"{base}/topics/chaos", data="init", headers=headers) as r:
                assert r.status == 202
            for sub in subscribers:
                form = {
                    "hub.mode": "subscribe",
                    "hub.topic": f"{base}/topics/chaos",
                    "hub.callback": sub.callback,
                }
                async with session.post(f"{base}/hub", data=form) as r:
                    assert r.status == 202
        await until(
            lambda: query(db, "SELECT COUNT(*) FROM subscriptions")[0][0] == SUBSCRIBERS, timeout=20
        )
        per_round = EVENTS // KILLS
        refused: list[int] = []  # sent as the hub was killed: publish again, as publishers do
        for round_ in range(KILLS):
            while len(spares) < min(SPARES, KILLS - round_):  # loading while this hub runs
                spares.append(spare_hub_process(db, port, *FLAGS))
            due = refused + list(range(round_ * per_round, (round_ + 1) * per_round))
            publisher = asyncio.create_task(_publish(base, token, due))
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            running.kill()
            answered = await publisher
            accepted += answered
            refused = sorted(set(due) - set(answered))
            running = await start_spare(spares[0])  # left in `spares` if it fails to start
            spares.pop(0)
        assert sorted(accepted + await _publish(base, token, refused)) == list(range(EVENTS))

        expected = {f"event-{n}".encode() for n in range(EVENTS)}
        for sub in subscribers:
            await until(lambda s=sub: expected <= {d.body for d in s.deliveries}, timeout=120)
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        # An event is stored twice only if its 202 was lost in a kill (one per publisher at most)
        stored = query(db, "SELECT COUNT(*) FROM events WHERE CAST(body AS TEXT) != 'init'")[0][0]
        assert EVENTS <= stored <= EVENTS + KILLS * PUBLISHERS
        # and each stored event goes to every subscriber at least once: any more are deliveries
        # in flight at a kill, sent again after it.
        total = sum(len(sub.deliveries) for sub in subscribers)
        assert 0 <= total - stored * SUBSCRIBERS <= KILLS * MAX_IN_FLIGHT
    finally:
        for spare in spares:
            spare.kill()
        if running.process.poll() is None:
            assert await running.stop() == 0
        for sub in subscribers:
            assert sub.server is not None
            await sub.server.close()
