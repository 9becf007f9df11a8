"""hub.secrets at rest on both backends: sealed with the key, sealed later if stored before the
key was set, and a wrong key refused when the store opens, not at the first delivery."""

from __future__ import annotations

import base64
import os

import pytest

from hub.database_url import DatabaseLocation
from hub.sealing import parse_key
from hub.store import StoreOpenError, open_store

from .raw import rows

TOPIC = "https://hub.example/topics/news"


def _key() -> bytes:
    return parse_key(base64.b64encode(os.urandom(32)).decode())


async def test_secrets_stored_before_the_key_are_sealed_later(database: DatabaseLocation) -> None:
    store = await open_store(database)
    try:
        await store.subscriptions.activate(topic=TOPIC, callback="https://a.example/cb",
                                           secret=b"plain-secret", lease_seconds=60, now=0.0)
    finally:
        await store.close()
    assert any(b"plain-secret" in bytes(secret) for (secret,) in
               await rows(database, "SELECT secret FROM subscriptions"))
    key = _key()
    store = await open_store(database, secret_key=key)
    try:
        assert await store.seal_plaintext_secrets(key) == 1
        assert await store.seal_plaintext_secrets(key) == 0
        sub = await store.subscriptions.get(topic=TOPIC, callback="https://a.example/cb")
        assert sub is not None and sub.secret == b"plain-secret"
    finally:
        await store.close()
    ((stored,),) = await rows(database, "SELECT secret FROM subscriptions")
    assert b"plain-secret" not in bytes(stored)
    with pytest.raises(StoreOpenError, match=r"does not open the stored hub\.secrets"):
        await open_store(database, secret_key=_key())
    with pytest.raises(StoreOpenError, match="start the hub with its key"):
        await open_store(database)
