"""A JWKS that cannot be fetched is the receiver's problem, not the token's (code review, issue 2):
503 with Retry-After instead of a permanent 400 invalid_key, a bounded backoff that does not hide
a first fetch's failure for a minute, and keys already fetched keep verifying. A real JWKS server
on loopback; the verifier's clock is injected, so nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from set_tokens import (
    KeySet,
    KeysUnavailable,
    RemoteJwks,
    SetError,
    Verifier,
    issue,
    make_push_handler,
)
from set_tokens.events import CAEP_BASE

from ..hub.support import free_port

ISSUER, AUDIENCE = "https://idp.example/", "https://rp.example/"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class JwksServer:
    keys: KeySet
    status: int = 200
    hits: int = 0
    server: TestServer | None = None
    clock: Clock = field(default_factory=Clock)

    async def serve(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        return web.json_response(self.keys.jwks())

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/jwks"))

    def token(self) -> str:
        return issue(key=self.keys, issuer=ISSUER, audience=AUDIENCE,
                     event_type=CAEP_BASE + "session-revoked", payload={},
                     subject={"format": "opaque", "id": "u1"})


@pytest.fixture
async def jwks() -> AsyncIterator[JwksServer]:
    served = JwksServer(KeySet.with_new_key("ES256"))
    app = web.Application()
    app.router.add_get("/jwks", served.serve)
    served.server = TestServer(app, host="127.0.0.1", port=free_port())
    await served.server.start_server()
    yield served
    await served.server.close()


def verifier(source: RemoteJwks) -> Verifier:
    return Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks=source)


async def test_a_failed_first_fetch_is_retryable_and_retried_within_seconds(
    jwks: JwksServer,
) -> None:
    jwks.status = 503
    async with aiohttp.ClientSession() as session:
        check = verifier(RemoteJwks(jwks.url, session=session, clock=jwks.clock))
        with pytest.raises(KeysUnavailable) as failed:
            await check.verify(jwks.token())
        assert not isinstance(failed.value, SetError)  # no RFC 8935 verdict on the token
        assert failed.value.retry_after == 1.0
        with pytest.raises(KeysUnavailable) as waiting:  # backing off: the URL is left alone
            await check.verify(jwks.token())
        assert jwks.hits == 1 and 0 < waiting.value.retry_after <= 1.0
        jwks.status = 200
        jwks.clock.now += 1.0  # the backoff has passed: not the 60 s of min_refetch_interval
        verified = await check.verify(jwks.token())
        assert verified.claims.iss == ISSUER and jwks.hits == 2


async def test_the_backoff_doubles_up_to_its_bound(jwks: JwksServer) -> None:
    jwks.status = 500
    async with aiohttp.ClientSession() as session:
        source = RemoteJwks(jwks.url, session=session, clock=jwks.clock, first_backoff=1.0,
                            max_backoff=8.0)
        waits = []
        for _ in range(6):
            with pytest.raises(KeysUnavailable) as failed:
                await source.key("some-kid")
            waits.append(failed.value.retry_after)
            jwks.clock.now += failed.value.retry_after
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert jwks.hits == 6


async def test_keys_fetched_before_keep_verifying_while_the_jwks_is_down(
    jwks: JwksServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        check = verifier(RemoteJwks(jwks.url, session=session, clock=jwks.clock, cache_ttl=300))
        await check.verify(jwks.token())
        jwks.status = 500
        jwks.clock.now += 301  # the cache is stale: a refetch is due, and it fails
        await check.verify(jwks.token())  # the known kid still verifies
        assert jwks.hits == 2
        jwks.keys.rotate(grace=0)  # a kid it has never seen: only the JWKS can tell
        with pytest.raises(KeysUnavailable):
            await check.verify(jwks.token())


async def test_the_push_handler_answers_503_with_retry_after(jwks: JwksServer) -> None:
    jwks.status = 502
    handed: list[Any] = []

    async def on_event(event: Any) -> None:
        handed.append(event)

    async with aiohttp.ClientSession() as session:
        check = verifier(RemoteJwks(jwks.url, session=session, clock=jwks.clock,
                                    first_backoff=2.5))
        app = web.Application()
        app.router.add_post("/events", make_push_handler(check, on_event))
        receiver = TestServer(app, host="127.0.0.1", port=free_port())
        await receiver.start_server()
        try:
            async with session.post(receiver.make_url("/events"), data=jwks.token(),
                                    headers={"Content-Type": "application/secevent+jwt"}) as r:
                assert r.status == 503
                assert r.headers["Retry-After"] == "3"
                assert "err" not in await r.text()
            jwks.status = 200
            jwks.clock.now += 2.5
            async with session.post(receiver.make_url("/events"), data=jwks.token(),
                                    headers={"Content-Type": "application/secevent+jwt"}) as r:
                assert r.status == 202
        finally:
            await receiver.close()
    assert len(handed) == 1
