"""`sethub publish` against a real hub: the hub named either way, epoch seconds sent as numbers.

The command runs in-process (`hub.cli.main`) in a worker thread, since it runs its own event loop;
it speaks HTTP to the hub on loopback like any publisher. New-user walkthrough findings 10, 11.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from hub.cli import main

from .support import RunningHub

SUBJECT = json.dumps({"format": "email", "email": "jane@example.com"})


async def publish(hub_url: str, token: str, *extra: str) -> int:
    argv = ["publish", "--hub", hub_url, "--token", token, "--type", "login-failed"]
    return await asyncio.to_thread(main, [*argv, "--subject", SUBJECT, *extra])


def stored_times(hub: RunningHub) -> list[object]:
    with sqlite3.connect(f"file:{hub.settings.db}?mode=ro", uri=True) as conn:
        return [json.loads(body)["toe"] for (body,) in conn.execute("SELECT body FROM events")]


@pytest.mark.parametrize("suffix", ["", "/", "/hub", "/hub/"])
async def test_hub_is_its_base_url_or_its_websub_url(
    hub: RunningHub, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    assert await publish(hub.settings.base_url + suffix, hub.token) == 0
    assert json.loads(capsys.readouterr().out)["events"][0]["subscriptions"] == 0


@pytest.mark.parametrize(
    ("given", "toe"),
    [
        ("1700000000.5", 1700000000),
        ("1700000000", 1700000000),
        ("2023-11-14T22:13:20Z", 1700000000),
    ],
)
async def test_occurred_at_in_epoch_seconds_or_rfc3339(
    hub: RunningHub, capsys: pytest.CaptureFixture[str], given: str, toe: int
) -> None:
    assert await publish(hub.settings.base_url, hub.token, "--occurred-at", given) == 0, (
        capsys.readouterr()
    )
    assert stored_times(hub) == [toe]


@pytest.mark.parametrize("hub_url", ["127.0.0.1:8080", "localhost:8080", "/hub"])
async def test_hub_without_scheme_says_what_to_write(
    capsys: pytest.CaptureFixture[str], hub_url: str
) -> None:
    """Refused before anything is sent; one line that shows the expected form."""
    assert await publish(hub_url, "sethub_x") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "--hub must be an http(s) URL such as http://127.0.0.1:8080" in error
