"""`sethub sources add|list|remove` as an operator runs them, and the one-command Logto setup
end to end: a `sethub serve` process, a source added next to it, a signed Logto webhook in, a
verified SET out at a subscriber."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from . import vendor_samples as samples
from .cli_runner import Ran, in_process_sethub
from .process import create_token, query, sethub_command, start_hub_process
from .support import free_port, start_subscriber, until
from .test_cli import new_database

Sources = Callable[..., Ran]


@pytest.fixture
def sources(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Sources:
    """`sethub sources ARGS` in this process, as the console script runs it: a process per
    command cost ~1 s of imports, and these tests are about what the command does and prints."""
    sethub = in_process_sethub(monkeypatch, capsys)

    def run(*args: str, env: dict[str, str] | None = None) -> Ran:
        return sethub("sources", *args, env=env)

    return run


def sources_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`sethub sources ARGS` as a process of its own, next to a running hub."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    return subprocess.run(
        [*sethub_command(), "sources", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=clean,
    )


def test_add_list_remove_and_the_secret_sealed_at_rest(sources: Sources, tmp_path: Path) -> None:
    db = str(tmp_path / "sethub.db")
    key = base64.b64encode(os.urandom(32)).decode()
    sealed = {"SETHUB_SECRET_KEY": key}
    new_database(Path(db), secret_key=key)  # the hub's database: `sources` never makes one
    added = sources(
        "add",
        "idp",
        "--vendor",
        "cidaas",
        "--db",
        db,
        "--public-url",
        "https://hub.example",
        "--option",
        "key_in=query",
        env=sealed,
    )
    assert added.returncode == 0, added.stderr
    last = json.loads(added.stdout.strip().splitlines()[-1])
    assert set(last) == {"name", "vendor", "url", "secret"}
    assert last["url"] == "https://hub.example/ingest/idp" and last["vendor"] == "cidaas"
    assert len(last["secret"]) >= 32  # generated
    (stored,) = query(Path(db), "SELECT secret FROM sources")
    assert last["secret"].encode() not in stored[0]  # sealed like hub.secrets
    listed = sources("list", "--db", db, "--public-url", "https://hub.example", env=sealed)
    assert json.loads(listed.stdout) == {
        "name": "idp",
        "vendor": "cidaas",
        "url": "https://hub.example/ingest/idp",
        "options": {"key_in": "query"},
    }
    assert last["secret"] not in listed.stdout
    again = sources("add", "idp", "--vendor", "asgardeo", "--db", db, env=sealed)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert sources("remove", "idp", "--db", db, env=sealed).returncode == 0
    missing = sources("remove", "idp", "--db", db, env=sealed)
    assert missing.returncode == 1 and "no source" in missing.stderr


def test_refusals(sources: Sources, tmp_path: Path) -> None:
    db = str(tmp_path / "sethub.db")
    logto = sources("add", "lt", "--vendor", "logto", "--db", db)
    assert logto.returncode == 1 and "--secret" in logto.stderr  # Logto makes its signing key
    option = sources(
        "add", "x", "--vendor", "logto", "--secret", "k", "--option", "key_in=query", "--db", db
    )
    assert option.returncode == 1 and "no option 'key_in'" in option.stderr
    bad_name = sources("add", "a/b", "--vendor", "cidaas", "--db", db)
    assert bad_name.returncode == 1 and "name" in bad_name.stderr
    assert sources("add", "a", "--vendor", "okta", "--db", db).returncode == 2


async def test_one_command_connects_logto(tmp_path: Path) -> None:
    db, port = tmp_path / "sethub.db", free_port()
    hub = await start_hub_process(db, port, "--allow-private-callbacks")
    subscriber = await start_subscriber()
    try:
        added = sources_process(
            "add",
            "logto",
            "--vendor",
            "logto",
            "--secret",
            "whsec-from-logto",
            "--db",
            str(db),
            "--public-url",
            hub.base,
        )
        assert added.returncode == 0, added.stderr
        url = json.loads(added.stdout.splitlines()[-1])["url"]
        token = create_token(db, scope="subscribe:session")
        async with aiohttp.ClientSession() as session:
            form = {
                "hub.mode": "subscribe",
                "hub.topic": f"{hub.base}/topics/session",
                "hub.callback": subscriber.callback,
            }
            bearer = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{hub.base}/hub", data=form, headers=bearer) as response:
                assert response.status == 202
            await until(lambda: subscriber.modes() == ["subscribe"])
            await until(lambda: query(db, "SELECT COUNT(*) FROM subscriptions")[0][0] == 1)
            body = samples.raw(samples.LOGTO_POST_SIGN_IN)
            signature = hmac.new(b"whsec-from-logto", body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "logto-signature-sha-256": signature}
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 202, await response.text()
        await until(lambda: subscriber.deliveries)
        assert subscriber.deliveries[0].headers["Content-Type"] == "application/secevent+jwt"
    finally:
        assert subscriber.server is not None
        await subscriber.server.close()
        hub.terminate()
