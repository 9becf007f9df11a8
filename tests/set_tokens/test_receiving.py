"""Receiving over real loopback HTTP: the RFC 8935 push handler, remote JWKS, and the WebSub
subscriber helper against a real sethub hub."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from set_tokens import (
    KeySet,
    RemoteJwks,
    SigningKey,
    StaticJwks,
    VerifiedSet,
    Verifier,
    WebSubSubscriber,
    issue,
)
from set_tokens.events import CAEP_BASE

from ..hub.support import free_port, start_hub, start_subscriber, stop_hub, until

ISSUER, AUDIENCE = "https://idp.example/", "https://rp.example/"
KEY = SigningKey.generate("ES256")


def token(**overrides: Any) -> str:
    values: dict[str, Any] = {"key": KEY, "issuer": ISSUER, "audience": AUDIENCE,
                              "event_type": CAEP_BASE + "session-revoked", "payload": {},
                              "subject": {"format": "opaque", "id": "u1"}}
    values.update(overrides)
    return issue(**values)


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    return server


@pytest.fixture
async def push_receiver() -> AsyncIterator[tuple[TestServer, list[VerifiedSet], list[bool]]]:
    from set_tokens import make_push_handler

    received: list[VerifiedSet] = []
    fail_next: list[bool] = []

    async def on_event(event: VerifiedSet) -> None:
        if fail_next and fail_next.pop():
            raise RuntimeError("the application's store is down")
        received.append(event)

    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"],
                        jwks=StaticJwks([KEY]))
    app = web.Application()
    app.router.add_post("/events", make_push_handler(verifier, on_event))
    server = await serve(app)
    yield server, received, fail_next
    await server.close()


async def test_push_handler_answers_rfc8935(push_receiver: Any) -> None:
    server, received, fail_next = push_receiver
    url = str(server.make_url("/events"))
    headers = {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}
    good = token()
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=good, headers=headers) as response:
            assert response.status == 202 and await response.read() == b""
        async with session.post(url, data=good, headers=headers) as response:
            assert response.status == 202  # the same SET again: accepted, not handed over twice
        assert len(received) == 1
        async with session.post(url, data=token(audience="https://else.example/"),
                                headers=headers) as response:
            assert response.status == 400
            assert response.headers["Content-Language"] == "en"
            assert (await response.json())["err"] == "invalid_audience"
        async with session.post(url, data=good, headers={"Content-Type": "application/jwt"}
                                ) as response:
            assert response.status == 400
            assert (await response.json())["err"] == "invalid_request"
        fail_next.append(True)
        retried = token()
        async with session.post(url, data=retried, headers=headers) as response:
            assert response.status == 500  # the transmitter will retry
        async with session.post(url, data=retried, headers=headers) as response:
            assert response.status == 202
    assert len(received) == 2


async def test_remote_jwks_refetches_on_unknown_kid_at_most_once_per_interval() -> None:
    keys = KeySet.with_new_key("ES256")
    served = {"jwks": keys.jwks()}

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(served["jwks"])

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    server = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            now = [1000.0]
            source = RemoteJwks(str(server.make_url("/jwks")), session=session,
                                min_refetch_interval=30, clock=lambda: now[0])
            check = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks=source)
            await check.verify(token(key=keys))
            new = keys.rotate(grace=0)
            served["jwks"] = keys.jwks()
            now[0] += 29
            assert (await source.key(new.kid)) is None  # refetched too recently
            now[0] += 1
            await check.verify(token(key=keys))  # unknown kid: one refetch finds it
            assert source.fetches == 2
    finally:
        await server.close()


async def test_subscriber_helper_against_a_real_hub(tmp_path: Path) -> None:
    hub = await start_hub(tmp_path)
    received: list[VerifiedSet] = []
    app = web.Application()
    port = free_port()
    # identity topics take a subscriber token: the subscriber's session sends it
    bearer = {"Authorization": f"Bearer {hub.subscriber_token}"}
    async with aiohttp.ClientSession(headers=bearer) as session:
        verifier = Verifier(
            issuer=hub.settings.base_url, audience=f"http://127.0.0.1:{port}",
            algorithms=["RS256"],
            jwks=RemoteJwks(f"{hub.settings.base_url}/.well-known/jwks.json", session=session),
        )

        async def on_event(event: VerifiedSet) -> None:
            received.append(event)

        subscriber = WebSubSubscriber(callback_url=f"http://127.0.0.1:{port}/cb",
                                      session=session, verifier=verifier, on_event=on_event)
        subscriber.attach(app, "/cb")
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            topic = hub.topic_url("session")
            subscription = await subscriber.subscribe(topic, lease_seconds=2)
            assert subscription.hub == hub.url and subscription.secret
            callback = subscriber.callback_url
            stored = await hub.store.subscriptions.get(topic=topic, callback=callback)
            assert stored is not None and stored.secret == subscription.secret  # signed deliveries

            # a verification it did not ask for is refused
            async with session.get(subscriber.callback_url, params={
                    "hub.mode": "subscribe", "hub.topic": hub.topic_url("login"),
                    "hub.challenge": "x"}) as response:
                assert response.status == 404
            # a delivery with a bad signature is refused
            async with session.post(subscriber.callback_url, data=b"x", headers={
                    "Link": f'<{hub.url}>; rel="hub", <{topic}>; rel="self"',
                    "X-Hub-Signature": "sha256=00"}) as response:
                assert response.status == 403

            body = {"type": "session-revoked", "subject": {"format": "opaque", "id": "u9"},
                    "data": {"initiating_entity": "admin"}}
            async with session.post(f"{hub.settings.base_url}/events", json=body,
                                    headers={"Authorization": f"Bearer {hub.token}"}) as r:
                assert r.status == 202
            await until(lambda: received)
            assert received[0].event_type is not None
            assert received[0].event_type.name == "session-revoked"
            # the same SET verifies under jwcrypto against the hub's JWKS, claims exact
            async with session.get(f"{hub.settings.base_url}/.well-known/jwks.json") as r:
                keyset = jwcrypto_jwk.JWKSet.from_json(await r.text())
            claims = json.loads(jwcrypto_jwt.JWT(
                jwt=received[0].token, key=keyset, algs=["RS256"], expected_type="JWS",
                check_claims={"jti": None}).claims)
            assert claims == received[0].claims.to_claims()
            assert claims["aud"] == f"http://127.0.0.1:{port}"
            assert claims["iss"] == hub.settings.base_url
            assert claims["sub_id"] == {"format": "opaque", "id": "u9"}
            assert claims["events"] == {CAEP_BASE + "session-revoked": {
                "initiating_entity": "admin", "reason_admin": {"en": "Session revoked"}}}
            assert set(claims) == {"iss", "iat", "jti", "aud", "txn", "sub_id", "events"}

            first_expiry = stored.expires_at
            await until(lambda: _renewed(hub, topic, subscriber.callback_url, first_expiry),
                        timeout=10)

            await subscriber.unsubscribe(topic)
            await until(lambda: _gone(hub, topic, subscriber.callback_url))
        finally:
            await subscriber.close()
            await server.close()
    await stop_hub(hub)


async def _renewed(hub: Any, topic: str, callback: str, before: float) -> bool:
    current = await hub.store.subscriptions.get(topic=topic, callback=callback)
    return current is not None and current.expires_at > before


async def _gone(hub: Any, topic: str, callback: str) -> bool:
    return await hub.store.subscriptions.get(topic=topic, callback=callback) is None


def test_json_error_body_shape() -> None:
    from set_tokens import InvalidKey

    assert json.loads(json.dumps(InvalidKey("unknown signing key").to_json())) == {
        "err": "invalid_key", "description": "unknown signing key"}


async def test_a_hub_set_to_ed25519_signs_under_the_rfc9864_name(tmp_path: Path) -> None:
    hub = await start_hub(tmp_path, signing_algorithm="Ed25519")
    subscriber = await start_subscriber()
    try:
        topic = hub.topic_url("session")
        status, text = await hub.subscribe(topic, subscriber.callback)
        assert status == 202, text
        await until(lambda: hub.store.subscriptions.get(topic=topic, callback=subscriber.callback))
        body = {"type": "session-revoked", "subject": {"format": "opaque", "id": "u9"}}
        async with hub.session.post(f"{hub.settings.base_url}/events", json=body,
                                    headers={"Authorization": f"Bearer {hub.token}"}) as r:
            assert r.status == 202
        await until(lambda: subscriber.deliveries)
        compact = subscriber.deliveries[0].body.decode()
        verifier = Verifier(
            issuer=hub.settings.base_url, audience=subscriber.callback.rsplit("/", 1)[0],
            algorithms=["Ed25519"],
            jwks=RemoteJwks(f"{hub.settings.base_url}/.well-known/jwks.json",
                            session=hub.session))
        verified = await verifier.verify(compact)
        assert verified.header["alg"] == "Ed25519"
    finally:
        assert subscriber.server is not None
        await subscriber.server.close()
        await stop_hub(hub)
