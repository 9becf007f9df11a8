"""Inbound sources on both backends: added once by name, listed, removed; their secrets sealed at
rest like hub.secrets, sealed later if stored before the key, and checked when the store opens."""

from __future__ import annotations

import base64
import os

import pytest

from hub.database_url import DatabaseLocation
from hub.sealing import parse_key
from hub.store import Source, SourceExists, Store, StoreOpenError, open_store

from .raw import rows


def _key() -> bytes:
    return parse_key(base64.b64encode(os.urandom(32)).decode())


def _source(name: str, secret: bytes = b"whsec-1", **options: str) -> Source:
    return Source(name=name, vendor="logto", secret=secret, options=options, created_at=5.0)


async def test_add_get_list_remove(store: Store) -> None:
    await store.sources.add(_source("b-idp", key_in="query"))
    await store.sources.add(_source("a-idp"))
    with pytest.raises(SourceExists):
        await store.sources.add(_source("a-idp", secret=b"other"))
    found = await store.sources.get("b-idp")
    assert found is not None
    assert (found.vendor, found.secret, dict(found.options), found.created_at) == (
        "logto", b"whsec-1", {"key_in": "query"}, 5.0
    )
    assert [s.name for s in await store.sources.listing()] == ["a-idp", "b-idp"]
    assert await store.sources.get("nobody") is None
    assert await store.sources.remove("a-idp") is True
    assert await store.sources.remove("a-idp") is False
    assert [s.name for s in await store.sources.listing()] == ["b-idp"]
    assert "whsec" not in repr(found)


async def test_source_secrets_are_sealed_and_checked_at_open(database: DatabaseLocation) -> None:
    key = _key()
    store = await open_store(database)
    try:
        await store.sources.add(_source("early", secret=b"stored-before-the-key"))
    finally:
        await store.close()
    store = await open_store(database, secret_key=key)
    try:
        assert await store.seal_plaintext_secrets(key) == 1
        await store.sources.add(_source("later", secret=b"stored-with-the-key"))
        assert {s.name: s.secret for s in await store.sources.listing()} == {
            "early": b"stored-before-the-key",
            "later": b"stored-with-the-key",
        }
    finally:
        await store.close()
    secrets = await rows(database, "SELECT secret FROM sources")
    stored = b"".join(bytes(secret) for (secret,) in secrets)
    assert b"stored-before-the-key" not in stored and b"stored-with-the-key" not in stored
    with pytest.raises(StoreOpenError):
        await open_store(database)  # sealed secrets need the key
    with pytest.raises(StoreOpenError):
        await open_store(database, secret_key=_key())  # and the right one
