"""Operators list dead-lettered deliveries and re-queue them with `sethub deliveries`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.database_url import PostgresURL
from hub.store import DeliveryState
from set_tokens import RemoteJwks, VerifiedSet, Verifier, make_push_handler

from .cli_runner import AsyncSethub, Sethub
from .support import RunningHub, free_port, until

DAY = 24 * 3600.0


async def test_list_and_retry_dead_deliveries(
    make_hub_each: Callable[..., Any],
    make_subscriber: Callable[..., Any],
    sethub_async: AsyncSethub,
) -> None:
    hub = await make_hub_each(retry_schedule=[0.05])
    db = hub.settings.db.dsn if isinstance(hub.settings.db, PostgresURL) else str(hub.settings.db)
    sub = await make_subscriber(deliver_status=500)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, sub.callback)
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    await hub.publish_content("news", b"first")
    await hub.publish_content("news", b"second")
    await until(lambda: _dead(hub, 2))

    listed = await sethub_async("deliveries", "list", "--db", db, "--state", "dead")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 2
    assert {row["callback"] for row in rows} == {sub.callback}
    assert all(row["last_status"] == 500 and row["attempts"] == 2 for row in rows)
    assert "secret" not in listed.stdout

    sub.deliver_status = 202
    one = await sethub_async("deliveries", "retry", "--db", db, str(rows[0]["id"]))
    assert one.returncode == 0 and "re-queued 1 deliveries" in one.stdout
    await until(lambda: _dead(hub, 1))
    rest = await sethub_async("deliveries", "retry", "--db", db, "--all")
    assert "re-queued 1 deliveries" in rest.stdout
    await until(lambda: _delivered(hub, 2))
    assert {d.body for d in sub.deliveries if d.headers} >= {b"first", b"second"}


async def _dead(hub: Any, count: int) -> bool:
    return (await hub.store.deliveries.counts())["dead"] == count


async def _settled(hub: Any) -> bool:
    """No delivery is pending."""
    return (await hub.store.deliveries.counts())["pending"] == 0


async def _delivered(hub: Any, count: int) -> bool:
    return (await hub.store.deliveries.counts())["delivered"] == count


def test_retry_needs_ids_or_all(sethub: Sethub, tmp_path: Any) -> None:
    done = sethub("deliveries", "retry", "--db", str(tmp_path / "x.db"))
    assert done.returncode == 2


@dataclass
class Receiver:
    """A real RFC 8935 receiver (set_tokens' push handler and Verifier, default max_age) that
    answers 503 to every SET while `down`."""

    server: TestServer
    down: bool = True
    refused: list[str] = field(default_factory=list)  # the SETs sent while it was down
    accepted: list[VerifiedSet] = field(default_factory=list)

    @property
    def callback(self) -> str:
        return str(self.server.make_url("/cb"))


async def start_receiver(hub: RunningHub, session: aiohttp.ClientSession) -> Receiver:
    port = free_port()
    verifier = Verifier(
        issuer=hub.settings.set_issuer,
        audience=f"http://127.0.0.1:{port}",
        algorithms=["RS256"],
        jwks=RemoteJwks(f"{hub.settings.base_url}/.well-known/jwks.json", session=session),
    )
    app = web.Application()
    receiver = Receiver(TestServer(app, host="127.0.0.1", port=port))

    async def accepted(event: VerifiedSet) -> None:
        receiver.accepted.append(event)

    push = make_push_handler(verifier, accepted)

    async def post(request: web.Request) -> web.StreamResponse:
        if not receiver.down:
            return await push(request)
        receiver.refused.append((await request.read()).decode())
        return web.Response(status=503)

    async def verify(request: web.Request) -> web.Response:
        return web.Response(text=request.query["hub.challenge"])

    app.router.add_get("/cb", verify)
    app.router.add_post("/cb", post)
    await receiver.server.start_server()
    return receiver


async def test_a_retried_identity_delivery_is_signed_again_with_its_jti(
    make_hub_each: Callable[..., Any], sethub_async: AsyncSethub
) -> None:
    """A dead-lettered SET re-queued days later would go out as first signed, older than
    receivers accept (set_tokens' default max_age, 3 days): `sethub deliveries retry` makes the
    hub sign it again, with the jti it had and a fresh iat, which a default receiver accepts.
    The hub's clock runs four days behind until the operator comes."""
    offset = [-4 * DAY]
    hub = await make_hub_each(retry_schedule=[0.05], clock=lambda: time.time() + offset[0])
    db = hub.settings.db.dsn if isinstance(hub.settings.db, PostgresURL) else str(hub.settings.db)
    async with aiohttp.ClientSession() as session:
        receiver = await start_receiver(hub, session)
        try:
            topic = hub.topic_url("login")
            status, text = await hub.subscribe(topic, receiver.callback)
            assert status == 202, text
            callback = receiver.callback
            await until(lambda: hub.store.subscriptions.get(topic=topic, callback=callback))
            event = {
                "type": "USER_LOGIN_FAILURE",
                "subject": {"format": "opaque", "id": "u1"},
                "data": {"reason": "bad password"},
            }
            async with hub.session.post(
                f"{hub.settings.base_url}/events",
                json=event,
                headers={"Authorization": f"Bearer {hub.token}"},
            ) as r:
                assert r.status == 202, await r.text()
            await until(lambda: _dead(hub, 1))
            first = jwt.decode(receiver.refused[0], options={"verify_signature": False})
            assert set(receiver.refused) == {receiver.refused[0]}  # retries resend the one SET
            assert first["iat"] < time.time() - 3.9 * DAY

            offset[0] = 0.0
            receiver.down = False
            (dead,) = await hub.store.deliveries.listing(state=DeliveryState.DEAD)
            retried = await sethub_async("deliveries", "retry", "--db", db, str(dead["id"]))
            assert retried.returncode == 0, retried.stderr
            await until(lambda: _settled(hub))
            assert (await hub.store.deliveries.counts())["delivered"] == 1
            (accepted,) = receiver.accepted
            assert accepted.claims.jti == first["jti"]
            assert accepted.claims.iat >= time.time() - 60
            assert accepted.token != receiver.refused[0]
        finally:
            await receiver.server.close()
