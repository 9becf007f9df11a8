"""The signing keys a shared store keeps (PostgreSQL): one key set for every node, private keys
sealed with the hub's secret key, and a generation that tells nodes it changed.

A SQLite store keeps none: its hub's keys are in the --keys-dir."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest

from hub.database_url import PostgresURL
from hub.store import (
    KeySetChanged,
    SealingError,
    SecretKeyRequired,
    SigningKeyRecord,
    open_store,
)
from set_tokens import SigningKey

from ..postgres import query

SECRET_KEY = os.urandom(32)


def record(state: str = "active", *, alg: str = "ES256", at: float = 1.0) -> SigningKeyRecord:
    key = SigningKey.generate(alg)
    return SigningKeyRecord(
        kid=key.kid,
        alg=key.alg,
        state=state,
        created_at=at,
        activate_at=None,
        public_jwk=json.dumps(key.public_jwk()),
        private_pem=key.private_pem(),
    )


async def test_a_sqlite_store_keeps_no_signing_keys(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "hub.db", secret_key=SECRET_KEY)
    try:
        assert store.signing_keys is None
    finally:
        await store.close()


async def test_the_first_key_set_is_stored_and_read_back(postgres_url: PostgresURL) -> None:
    store = await open_store(postgres_url, secret_key=SECRET_KEY)
    try:
        keys = store.signing_keys
        assert keys is not None
        assert await keys.generation() == 0
        assert (await keys.load()).keys == ()
        first = record()
        stored, created = await keys.create([first])
        assert created and stored.generation == 1 and stored.keys == (first,)
        assert await keys.generation() == 1
        again, created = await keys.create([record()])
        assert not created and again == stored  # a set exists: the second create keeps it
    finally:
        await store.close()


async def test_private_keys_are_sealed_in_the_table(postgres_url: PostgresURL) -> None:
    store = await open_store(postgres_url, secret_key=SECRET_KEY)
    try:
        assert store.signing_keys is not None
        rsa, ec = record(alg="RS256"), record("pending")
        await store.signing_keys.create([rsa, ec])
    finally:
        await store.close()
    rows = await query(postgres_url, "SELECT kid, private_key, public_jwk FROM signing_keys")
    assert len(rows) == 2
    for kid, sealed, public in rows:
        pem = next(r.private_pem for r in (rsa, ec) if r.kid == kid)
        body = b"".join(pem.splitlines()[1:-1])  # the key's base64, without the PEM armour
        der = base64.b64decode(body)
        assert sealed[:1] == b"e"
        assert body not in sealed and der not in sealed and b"PRIVATE KEY" not in sealed
        assert "d" not in json.loads(public)  # the public JWK has no private member


async def test_nodes_creating_at_once_store_one_key_set(postgres_url: PostgresURL) -> None:
    stores = await asyncio.gather(
        *(open_store(postgres_url, secret_key=SECRET_KEY) for _ in range(4))
    )
    try:
        offered = [record() for _ in stores]
        answers = await asyncio.gather(
            *(s.signing_keys.create([k]) for s, k in zip(stores, offered, strict=True))  # type: ignore[union-attr]
        )
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert sorted(created for _, created in answers) == [False, False, False, True]
    assert len({stored.keys for stored, _ in answers}) == 1  # every node got the same set
    assert await query(postgres_url, "SELECT count(*) FROM signing_keys") == [(1,)]
    assert await query(postgres_url, "SELECT generation FROM signing_key_set") == [(1,)]


async def test_a_change_made_on_a_stale_read_is_refused(postgres_url: PostgresURL) -> None:
    store = await open_store(postgres_url, secret_key=SECRET_KEY)
    try:
        keys = store.signing_keys
        assert keys is not None
        first = record()
        stored, _ = await keys.create([first])
        rotated = await keys.replace([first, record("pending")], generation=stored.generation)
        assert rotated.generation == 2 and len(rotated.keys) == 2
        with pytest.raises(KeySetChanged):
            await keys.replace([first], generation=stored.generation)
        retired = await keys.replace(rotated.keys[1:], generation=2)
        assert retired.generation == 3 and retired.keys == rotated.keys[1:]
        assert await query(postgres_url, "SELECT count(*) FROM signing_keys") == [(1,)]
    finally:
        await store.close()


async def test_without_the_secret_key_no_key_is_stored_or_read(postgres_url: PostgresURL) -> None:
    keyed = await open_store(postgres_url, secret_key=SECRET_KEY)
    try:
        assert keyed.signing_keys is not None
        await keyed.signing_keys.create([record()])
    finally:
        await keyed.close()
    keyless = await open_store(postgres_url)
    try:
        keys = keyless.signing_keys
        assert keys is not None
        assert await keys.generation() == 1  # the cheap poll needs no key
        with pytest.raises(SecretKeyRequired, match="--secret-key-file FILE or SETHUB_SECRET_KEY"):
            await keys.load()
        with pytest.raises(SecretKeyRequired):
            await keys.create([record()])
    finally:
        await keyless.close()
    wrong = await open_store(postgres_url, secret_key=os.urandom(32))
    try:
        assert wrong.signing_keys is not None
        with pytest.raises(SealingError, match="does not open the signing keys"):
            await wrong.signing_keys.load()
    finally:
        await wrong.close()
