"""The commands as a user runs them: the settings `serve` uses, and one-line errors."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hub.sealing import parse_key
from hub.store import open_store

from .cli_runner import Ran, Sethub, in_process_sethub, one_line_error
from .process import query, sethub_command
from .unprivileged import unprivileged

SECRET_KEY = "kL0wZ8ZrTqK3n1o2c1y8m0m7m9o3n6a2c1y8m0m7m9o="
WIDE_HELP = "300"  # columns: a default is not wrapped across lines


@pytest.fixture
def sethub(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Sethub:
    return in_process_sethub(monkeypatch, capsys)


def new_database(path: Path, *, secret_key: str | None = None) -> None:
    """A hub's database as `serve` leaves it (with one subscription that has a hub.secret)."""

    async def create() -> None:
        store = await open_store(path, secret_key=parse_key(secret_key) if secret_key else None)
        try:
            await store.subscriptions.activate(
                topic="http://127.0.0.1:1/topics/news", callback="http://127.0.0.1:2/cb",
                secret=b"sealed-or-not", lease_seconds=60, now=time.time(),
            )
        finally:
            await store.close()

    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(create())


def token_count(db: Path) -> int:
    return int(query(db, "SELECT COUNT(*) FROM tokens")[0][0])


def test_tokens_and_deliveries_find_the_database_serve_uses(
    sethub: Sethub, tmp_path: Path
) -> None:
    """Walkthrough 2: SETHUB_DB, --config and SETHUB_CONFIG were ignored; the token went into
    a new ./sethub.db that the running hub never reads."""
    db = tmp_path / "data" / "hub.db"
    new_database(db)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = tmp_path / "sethub.toml"
    config.write_text(f"db = {json.dumps(str(db))}\n")

    for how in ({"SETHUB_DB": str(db)}, {"SETHUB_CONFIG": str(config)}):
        done = sethub("tokens", "create", env=how, cwd=elsewhere)
        assert done.returncode == 0, done.stderr
    done = sethub("tokens", "create", "--config", str(config), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert token_count(db) == 3

    listed = sethub("deliveries", "list", env={"SETHUB_DB": str(db)}, cwd=elsewhere)
    assert listed.returncode == 0 and listed.stdout == "", listed.stderr
    retried = sethub("deliveries", "retry", "--all", "--config", str(config), cwd=elsewhere)
    assert retried.returncode == 0 and "re-queued 0" in retried.stdout, retried.stderr
    assert list(elsewhere.iterdir()) == []  # no stray database


def test_keys_find_the_directory_serve_uses(sethub: Sethub, tmp_path: Path) -> None:
    keys = tmp_path / "signing"
    config = tmp_path / "sethub.toml"
    config.write_text(f"keys-dir = {json.dumps(str(keys))}\n")
    made = sethub("keys", "generate", "--alg", "ES256", env={"SETHUB_CONFIG": str(config)},
                  cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    kid = made.stdout.split()[3]
    for how in ({"SETHUB_KEYS_DIR": str(keys)}, {"SETHUB_CONFIG": str(config)}):
        assert kid in sethub("keys", "list", env=how, cwd=tmp_path).stdout
    assert kid in sethub("keys", "list", "--config", str(config), cwd=tmp_path).stdout
    assert not (tmp_path / "sethub-keys").exists()


@pytest.mark.parametrize(
    "command",
    [("tokens", "create"), ("deliveries", "list"), ("deliveries", "retry", "--all")],
)
def test_a_missing_database_is_refused_not_created(
    sethub: Sethub, tmp_path: Path, command: tuple[str]
) -> None:
    """Walkthrough 2: a typo in --db printed a token, or no dead letters, from a new empty file."""
    for db in (tmp_path / "typo.db", tmp_path / "nodir" / "typo.db"):
        done = sethub(*command, "--db", str(db))
        one_line_error(done, 1, f"no database at {db}: start the hub once, or pass --db")
    assert list(tmp_path.iterdir()) == []  # neither the file nor the directory was created


def test_a_database_sealed_with_the_secret_key_opens_with_the_same_settings(
    sethub: Sethub, tmp_path: Path
) -> None:
    """A hub run with SETHUB_SECRET_KEY seals hub.secrets; the commands read the same key."""
    db = tmp_path / "hub.db"
    new_database(db, secret_key=SECRET_KEY)
    done = sethub("tokens", "create", "--db", str(db), env={"SETHUB_SECRET_KEY": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    listed = sethub("deliveries", "list", "--db", str(db), env={"SETHUB_SECRET_KEY": SECRET_KEY})
    assert listed.returncode == 0, listed.stderr
    one_line_error(sethub("tokens", "create", "--db", str(db)), 1, "start the hub with its key")


def test_settings_errors_are_one_line_naming_the_flag(sethub: Sethub) -> None:
    done = sethub("tokens", "create", env={"SETHUB_DB_MAX_BYTES": "lots"})
    one_line_error(done, 2, "invalid SETHUB_DB_MAX_BYTES: ")


def test_verify_with_a_file_that_is_not_a_jwks(sethub: Sethub, tmp_path: Path) -> None:
    """Walkthrough 9: `--jwks` holding [1,2] ended in AttributeError."""
    for text in ("[1, 2]", '{"keys": [1]}', "{oops", '{"nokeys": []}'):
        jwks = tmp_path / "jwks.json"
        jwks.write_text(text)
        done = sethub("verify", "a.b.c", "--jwks", str(jwks), "--issuer", "x", "--audience", "y")
        one_line_error(done, 2, f"{jwks} is not a JWKS")


def test_publish_with_a_token_captured_with_its_notice(sethub: Sethub) -> None:
    """Walkthrough 9: TOKEN=$(sethub tokens create 2>&1) holds two lines; publishing with it
    ended in `ValueError: Forbidden control character detected in headers`."""
    token = "created a token with scope 'publish'; it is shown only once:\nsethub_abc"
    with socket.create_server(("127.0.0.1", 0)) as listening:  # a hub's port, as in the report
        port = listening.getsockname()[1]
        done = sethub("publish", "--hub", f"http://127.0.0.1:{port}", "--token", token,
                      "--type", "logout", "--subject", '{"format": "opaque", "id": "u1"}')
    one_line_error(done, 2, "the token contains a line break")


def test_keys_generate_into_a_read_only_directory(tmp_path: Path) -> None:
    """Walkthrough 9: `keys generate --keys-dir <read-only>/keys` ended in PermissionError."""
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    command = [*sethub_command(), "keys", "generate", "--alg", "ES256", "--keys-dir",
               str(read_only / "keys")]
    process = subprocess.run(
        unprivileged(command), capture_output=True, text=True, timeout=30, check=False
    )
    done = Ran(process.returncode, process.stdout, process.stderr)
    one_line_error(done, 1, f"cannot write keys in {read_only / 'keys'}: Permission denied")


def test_version_and_help_as_a_user_reads_them(sethub: Sethub) -> None:
    """Walkthrough 15: no --version; help printed PosixPath('sethub.db'), None and [10.0, ...]."""
    version = sethub("--version")
    assert version.returncode == 0 and version.stdout.startswith("sethub "), version.stderr
    serve = sethub("serve", "--help", env={"COLUMNS": WIDE_HELP}).stdout
    assert "default sethub.db" in serve and "default 10,30,120,600" in serve
    assert "--no-allow-private-callbacks" in serve
    assert "PosixPath" not in serve and "default None" not in serve and "[10.0" not in serve
    listing = sethub("deliveries", "list", "--help").stdout
    assert "which deliveries to list" in listing and "most deliveries listed" in listing
    verify = sethub("verify", "--help").stdout
    assert "repeatable" in verify.split("--audience", 2)[2]
