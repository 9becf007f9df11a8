"""hub.secret values encrypted at rest with --secret-key, and start-up refusing the wrong key."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.sealing import SealingError, SecretBox, parse_key
from hub.store import StoreOpenError, open_store
from set_tokens import signature_valid

from .process import query
from .support import until


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_box_round_trip_and_wrong_key() -> None:
    key = parse_key(new_key())
    sealed = SecretBox(key).seal(b"topsecret")
    assert sealed is not None and b"topsecret" not in sealed
    assert SecretBox(key).open(sealed) == b"topsecret"
    with pytest.raises(SealingError, match="does not open"):
        SecretBox(parse_key(new_key())).open(sealed)
    with pytest.raises(SealingError, match="start the hub with its key"):
        SecretBox(None).open(sealed)
    assert SecretBox(None).open(SecretBox(None).seal(b"plain")) == b"plain"


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_key(base64.b64encode(b"short").decode())
    assert len(parse_key(base64.urlsafe_b64encode(os.urandom(32)).decode())) == 32


async def test_secret_sealed_in_the_database_and_signatures_still_valid(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any], tmp_path: Path
) -> None:
    key = new_key()
    hub = await make_hub(secret_key=key)
    sub = await make_subscriber()
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, sub.callback, **{"hub.secret": "a-very-private-secret"})
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    await hub.publish_content("news", b"signed")
    await until(lambda: sub.deliveries)
    assert signature_valid(
        sub.deliveries[0].headers["X-Hub-Signature"], b"a-very-private-secret", b"signed"
    )
    db = hub.settings.db
    assert b"a-very-private-secret" not in db.read_bytes()
    (stored,) = query(db, "SELECT secret FROM subscriptions")[0]
    assert isinstance(stored, bytes) and stored[:1] == b"e"

    with pytest.raises(StoreOpenError, match="does not open"):
        await open_store(db, secret_key=parse_key(new_key()))
    with pytest.raises(StoreOpenError, match="start the hub with its key"):
        await open_store(db)
    store = await open_store(db, secret_key=parse_key(key))
    await store.close()
