"""Rotating the signing key while events flow never yields a SET its receiver cannot verify."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt

from set_tokens import KeySet, RemoteJwks, SetError, Verifier

from .support import until
from .test_identity_events import LOGIN_FAILED, post_events, subscribed


async def test_rotation_during_a_stream_of_events(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub()
    sub = await make_subscriber()
    await subscribed(hub, sub)
    keys_dir = hub.settings.keys_dir
    audience = sub.callback.rsplit("/", 1)[0]
    failures: list[str] = []
    async with aiohttp.ClientSession() as session:
        verifier = Verifier(
            issuer=hub.settings.base_url, audience=audience, algorithms=["RS256", "ES256"],
            jwks=RemoteJwks(f"{hub.settings.base_url}/.well-known/jwks.json", session=session,
                            cache_ttl=0.5, min_refetch_interval=0.5),
        )
        for n in range(40):
            await post_events(hub, {**LOGIN_FAILED, "txn": f"t{n}"})
            if n in (10, 25):  # as `sethub keys rotate --grace 1` does, while the hub runs
                keys = KeySet.load(keys_dir)
                keys.rotate("ES256" if n == 10 else "RS256", grace=1.0)
                keys.save(keys_dir)
            await asyncio.sleep(0.1)
        await until(lambda: len(sub.deliveries) == 40, timeout=30)
        for delivery in sub.deliveries:
            try:
                await verifier.verify(delivery.body.decode(), now=time.time())
            except SetError as error:
                failures.append(f"{error.err}: {error.description}")
    assert failures == []
    kids = {jwt.get_unverified_header(d.body.decode())["kid"] for d in sub.deliveries}
    assert len(kids) == 3  # the first key and both rotated keys signed something
    async with hub.session.get(f"{hub.settings.base_url}/.well-known/jwks.json") as response:
        published = {key["kid"] for key in (await response.json())["keys"]}
    assert kids <= published  # former keys stay published until retired
