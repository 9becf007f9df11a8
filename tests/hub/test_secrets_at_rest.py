"""Files at rest: the owner's alone (0600/0700) whatever the umask, and hub.secret values
encrypted with --secret-key, start-up refusing the wrong key."""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.sealing import SealingError, SecretBox, parse_key
from hub.store import StoreOpenError, open_store
from set_tokens.websub import signature_valid

from .process import query, start_hub_process
from .support import free_port, start_hub, start_subscriber, stop_hub, until


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


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    """This process's umask (inherited by the processes it starts) for the block."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


async def test_database_and_its_side_files_are_private_under_umask_000(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with umask(0):
        store = await open_store(db)
        try:
            await store.topics.put(name="news", content_type="text/plain", content=b"x", now=1.0)
            modes = {path.name: mode(path) for path in tmp_path.iterdir()}
        finally:
            await store.close()
    assert modes == {"hub.db": 0o600, "hub.db-wal": 0o600, "hub.db-shm": 0o600}


async def test_a_world_readable_database_of_an_older_hub_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE leftover (x)")
    db.chmod(0o644)
    store = await open_store(db)
    try:
        assert mode(db) == 0o600
        assert mode(tmp_path / "hub.db-wal") == 0o600
    finally:
        await store.close()


async def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match=f"{tmp_path / 'typo'} does not exist"):
        await open_store(tmp_path / "typo" / "hub.db")
    assert not (tmp_path / "typo").exists()


async def test_serve_under_umask_000_writes_only_private_files(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with umask(0):
        running = await start_hub_process(
            db, free_port(), "--signing-algorithm", "ES256", "--signing-workers", "1"
        )
    try:
        keys = tmp_path / "keys"
        written = [db, tmp_path / "hub.db-wal", tmp_path / "hub.db-shm", *keys.iterdir()]
        assert {path.name: mode(path) for path in written} == {
            path.name: 0o600 for path in written
        }
        assert mode(keys) == 0o700
    finally:
        assert running.terminate() == 0


def test_keys_generate_under_umask_000_writes_only_private_files(tmp_path: Path) -> None:
    """`sethub` (its main(), in this process) started from a shell with umask 000."""
    keys = tmp_path / "keys"
    with umask(0):
        assert main(["keys", "generate", "--alg", "ES256", "--keys-dir", str(keys)]) == 0
    assert {path.name: mode(path) for path in keys.iterdir()} == {
        path.name: 0o600 for path in keys.iterdir()
    }
    assert mode(keys) == 0o700


async def test_a_key_set_later_seals_the_secrets_stored_in_plaintext(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Walkthrough 18: turning --secret-key on later left the stored secrets in plaintext. The
    next start with the key seals them, overwriting the plaintext in the file."""
    secret = b"stored-before-the-key-was-set"
    hub = await start_hub(tmp_path)
    sub = await start_subscriber()
    try:
        await hub.create_topic("news")
        topic = hub.topic_url("news")
        await hub.subscribe(topic, sub.callback, **{"hub.secret": secret.decode()})
        await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    finally:
        await stop_hub(hub)
    db = tmp_path / "hub.db"
    assert query(db, "SELECT secret FROM subscriptions")[0][0] == b"p" + secret

    key_file = tmp_path / "secret.key"
    key_file.write_text(new_key())
    caplog.set_level(logging.INFO)
    # The same topic URLs as before, although this hub listens on another free port.
    hub = await start_hub(tmp_path, secret_key_file=key_file, public_url=hub.settings.base_url)
    try:
        (stored,) = query(db, "SELECT secret FROM subscriptions")[0]
        assert isinstance(stored, bytes) and stored[:1] == b"e"
        on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
        assert secret not in on_disk
        assert "sealed 1 hub.secrets stored in plaintext" in caplog.text
        headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"}
        async with hub.session.post(
            hub.server.make_url("/topics/news"), data=b"signed", headers=headers
        ) as response:
            assert response.status == 202, await response.text()
        await until(lambda: sub.deliveries)
        signature = sub.deliveries[-1].headers["X-Hub-Signature"]
        assert signature_valid(signature, secret, b"signed")
    finally:
        await stop_hub(hub)
        assert sub.server is not None
        await sub.server.close()
