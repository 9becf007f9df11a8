"""`sethub listen` as a user runs it (issue 17, the CLI): a subprocess against a real hub on
loopback. Identity SETs arrive verified as one line each, content deliveries as they came,
rejections are printed, Ctrl-C or SIGTERM unsubscribes (the hub's subscription ends) and exits 0;
the usual mistakes end it with one line that says what to do."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .cli_runner import Sethub
from .process import sethub_command
from .support import RunningHub, free_port, start_hub, stop_hub, until

LOGIN_EVENT = {
    "type": "login-failed",
    "subject": {"format": "email", "email": "j@example.com"},
    "data": {"reason": "bad password"},
}
VERIFIED_LINE = (
    'verified login-failed for {"format": "email", "email": "j@example.com"}:'
    ' {"reason": "bad password"}'
)


def clean_env() -> dict[str, str]:
    """The environment without SETHUB_* (a SETHUB_TOKEN of the shell must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}


def start_listener(out: Path, *args: str) -> subprocess.Popen[bytes]:
    with out.open("w") as handle:
        return subprocess.Popen(
            [*sethub_command(), "listen", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )


async def run_listen(*args: str) -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        *sethub_command(),
        "listen",
        *args,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def active(hub: RunningHub, topic: str) -> int:
    return len(await hub.store.subscriptions.active(hub.topic_url(topic), now=time.time()))


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    running = await start_hub(tmp_path)
    yield running
    await stop_hub(running)


async def test_events_arrive_as_lines_and_a_signal_unsubscribes(
    hub: RunningHub, tmp_path: Path
) -> None:
    await hub.create_topic("news", b"first post")
    login, news = hub.topic_url("login"), hub.topic_url("news")
    runs = {
        "identity": ("--topic", login, "--token", hub.subscriber_token),
        "content": ("--topic", news),
        "wrong-issuer": (
            "--topic",
            login,
            "--token",
            hub.subscriber_token,
            "--issuer",
            "https://elsewhere.test",
        ),
    }
    outputs = {name: tmp_path / f"{name}.out" for name in runs}
    children = {name: start_listener(outputs[name], *args) for name, args in runs.items()}
    try:
        for name, args in runs.items():
            await until(
                lambda n=name, t=args[1]: f"subscribed to {t}" in outputs[n].read_text(), timeout=30
            )
        assert await active(hub, "login") == 2 and await active(hub, "news") == 1

        async with hub.session.post(
            f"{hub.settings.base_url}/events",
            json=LOGIN_EVENT,
            headers={"Authorization": f"Bearer {hub.token}"},
        ) as answer:
            assert answer.status == 202
        await hub.publish_content("news", b"second post")
        await until(lambda: VERIFIED_LINE in outputs["identity"].read_text(), timeout=30)
        await until(
            lambda: "delivery (text/plain): second post\n" in outputs["content"].read_text(),
            timeout=30,
        )
        await until(
            lambda: "rejected a SET: invalid_issuer: " in outputs["wrong-issuer"].read_text(),
            timeout=30,
        )

        children["identity"].send_signal(signal.SIGINT)  # Ctrl-C
        children["content"].send_signal(signal.SIGINT)
        children["wrong-issuer"].send_signal(signal.SIGTERM)
        for name, child in children.items():
            assert await asyncio.to_thread(child.wait, 20) == 0, outputs[name].read_text()
        for name, output in outputs.items():
            text = output.read_text()
            assert "unsubscribed from " in text and "Traceback" not in text, (name, text)
        assert text_lines(outputs["identity"]) == [
            f"subscribed to {login}",
            VERIFIED_LINE,
            f"unsubscribed from {login}",
        ]
        assert await active(hub, "login") == 0 and await active(hub, "news") == 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait(10)


def text_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
async def refusing(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub that does not call loopback callbacks: the default of `sethub serve`."""
    (tmp_path / "strict").mkdir()
    running = await start_hub(tmp_path / "strict", allow_private_callbacks=False)
    yield running
    await stop_hub(running)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


async def test_the_usual_mistakes_end_in_one_line_that_says_what_to_do(
    hub: RunningHub, refusing: RunningHub, busy_port: int, sethub: Sethub
) -> None:
    login = hub.topic_url("login")
    token = ("--token", hub.subscriber_token)
    cases = {
        "hub down": (
            (f"http://127.0.0.1:{free_port()}/topics/login", *token),
            1,
            "is the hub running?",
        ),
        "port busy": (
            (login, *token, "--port", str(busy_port)),
            1,
            f"cannot listen on 127.0.0.1:{busy_port}",
        ),
        "unknown topic": ((hub.topic_url("no-such-topic"), *token), 1, "no such topic"),
        "loopback refused": (
            (refusing.topic_url("login"), "--token", refusing.subscriber_token),
            1,
            "start the hub with --allow-private-callbacks",
        ),
        "no token": ((login,), 1, "make one with `sethub tokens create --scope subscribe:login"),
        "unknown token": (
            (login, "--token", "not-a-token-of-this-hub"),
            1,
            "the hub does not know this token",
        ),
    }
    # Refused before any event loop or socket, from the arguments alone: run in this process
    # (the usual cost of a process is ~1 s of imports), the six above as processes, at once.
    refused_arguments = {
        "token and stderr": (
            (login, "--token", f"notice\n{hub.subscriber_token}"),
            2,
            "pass only the token",
        ),
        "not a URL": (("127.0.0.1:8080/topics/login",), 2, "--topic must be an http(s) URL"),
        "wildcard host": ((login, *token, "--host", "0.0.0.0"), 2, "give --callback"),
    }
    runs = {case: run_listen("--topic", *args) for case, (args, _, _) in cases.items()}
    results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    for case, (args, _, _) in refused_arguments.items():
        done = sethub("listen", "--topic", *args)
        results[case] = (done.returncode, done.stdout, done.stderr)
    cases |= refused_arguments
    for case, (code, out, err) in results.items():
        _, expected_code, expected = cases[case]
        assert code == expected_code, (case, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (case, err)
        assert err.startswith("sethub: ") and expected in err, (case, err)
        assert "subscribed" not in out, (case, out)
    assert await active(hub, "login") == 0 and await active(refusing, "login") == 0
