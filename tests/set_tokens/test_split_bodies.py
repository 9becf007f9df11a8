"""Bodies that arrive in pieces are read whole: a SET pushed in two TCP segments, a delivery to
the WebSub subscriber in two segments, and a JWKS served in two writes (code review, issue 1)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from set_tokens import (
    RemoteJwks,
    SigningKey,
    StaticJwks,
    VerifiedSet,
    Verifier,
    WebSubSubscriber,
    issue,
    make_push_handler,
)
from set_tokens.events import CAEP_BASE
from set_tokens.websub import TopicSubscription

from ..hub.support import free_port

ISSUER, AUDIENCE = "https://idp.example/", "https://rp.example/"
KEY = SigningKey.generate("RS256")
PAUSE = 0.1  # long enough that the server reads the first part on its own


def token() -> str:
    return issue(key=KEY, issuer=ISSUER, audience=AUDIENCE,
                 event_type=CAEP_BASE + "session-revoked", payload={"event_timestamp": 1},
                 subject={"format": "email", "email": "a@example.com"})


def verifier(jwks: Any = None) -> Verifier:
    return Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"],
                    jwks=jwks or StaticJwks([KEY]))


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    return server


async def post_in_two_parts(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """POST with the head and the body's first 100 bytes in one write, the rest after a pause."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n{head}\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request + body[:100])
        await writer.drain()
        await asyncio.sleep(PAUSE)
        writer.write(body[100:])
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_set_pushed_in_two_segments_is_accepted() -> None:
    received: list[VerifiedSet] = []

    async def on_event(event: VerifiedSet) -> None:
        received.append(event)

    app = web.Application()
    app.router.add_post("/push", make_push_handler(verifier(), on_event))
    server = await serve(app)
    try:
        answer = await post_in_two_parts(server.port, "/push",
                                         {"Content-Type": "application/secevent+jwt"},
                                         token().encode())
    finally:
        await server.close()
    assert answer.startswith(b"HTTP/1.1 202"), answer
    assert len(received) == 1


async def test_a_websub_delivery_in_two_segments_is_accepted() -> None:
    received: list[VerifiedSet] = []

    async def on_event(event: VerifiedSet) -> None:
        received.append(event)

    topic, hub, secret = "http://127.0.0.1:1/topics/session", "http://127.0.0.1:1/hub", b"s3cret"
    async with aiohttp.ClientSession() as session:
        subscriber = WebSubSubscriber(callback_url="http://127.0.0.1/cb", session=session,
                                      verifier=verifier(), on_event=on_event)
        subscriber.subscriptions[topic] = TopicSubscription(topic=topic, hub=hub, secret=secret)
        app = web.Application()
        subscriber.attach(app, "/cb")
        server = await serve(app)
        body = token().encode()
        try:
            answer = await post_in_two_parts(server.port, "/cb", {
                "Content-Type": "application/secevent+jwt",
                "Link": f'<{hub}>; rel="hub", <{topic}>; rel="self"',
                "X-Hub-Signature": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            }, body)
        finally:
            await server.close()
            await subscriber.close()
    assert answer.startswith(b"HTTP/1.1 202"), answer
    assert len(received) == 1


async def test_a_jwks_served_in_two_writes_is_read_whole() -> None:
    keys = (SigningKey.generate("RS256"), SigningKey.generate("RS256"), KEY)
    jwks = json.dumps({"keys": [key.public_jwk() for key in keys]}).encode()
    assert len(jwks) > 1400  # longer than one TCP segment, as a JWKS of RSA keys usually is

    async def serve_jwks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(jwks)
        await response.prepare(request)
        await response.write(jwks[:100])
        await asyncio.sleep(PAUSE)
        await response.write(jwks[100:])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/jwks", serve_jwks)
    server = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            source = RemoteJwks(str(server.make_url("/jwks")), session=session)
            verified = await verifier(source).verify(token())
    finally:
        await server.close()
    assert verified.claims.iss == ISSUER
