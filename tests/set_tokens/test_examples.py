"""examples/receiver.py and examples/subscriber.py as a user runs them (walkthrough findings 7 and
8): the receiver finds the issuer and JWKS from the topic, on a hub that is not on port 8080, and
prints rejections; both end with one line, no traceback, when the hub is down, the port is busy,
the topic is unknown, or the hub refuses a loopback callback. They are thin scripts on the names
at the top of set_tokens (issue 17); `sethub listen` (tests/hub/test_listen_command.py) is the
same experience without the repository."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ..hub.support import RunningHub, free_port, start_hub, stop_hub, until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def run_example(name: str, *args: str, cwd: Path) -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), *args, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


@pytest.fixture
async def hubs(tmp_path: Path) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    """A hub that calls loopback callbacks (as the quickstart starts it) and one that does not
    (the default)."""
    (tmp_path / "open").mkdir()
    (tmp_path / "strict").mkdir()
    allowing = await start_hub(tmp_path / "open")
    refusing = await start_hub(tmp_path / "strict", allow_private_callbacks=False)
    yield allowing, refusing
    await stop_hub(allowing)
    await stop_hub(refusing)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


async def test_each_example_ends_with_one_line_when_something_is_in_the_way(
    hubs: tuple[RunningHub, RunningHub], busy_port: int, tmp_path: Path
) -> None:
    allowing, refusing = hubs
    nobody = f"http://127.0.0.1:{free_port()}"
    cases = {  # None: a free port of its own for each run (the runs go at once)
        "hub down": (f"{nobody}/topics/login", None, f"cannot reach {nobody}/topics/login"),
        "port busy": (allowing.topic_url("login"), busy_port,
                      f"cannot listen on 127.0.0.1:{busy_port}"),
        "unknown topic": (allowing.topic_url("no-such-topic"), None, "no such topic"),
        "loopback refused": (refusing.topic_url("login"), None,
                             "start the hub with --allow-private-callbacks"),
    }
    # Identity topics take a subscriber token: the refusing hub's, so that the callback check is
    # what refuses (the allowing hub's tokens are not valid there).
    runs = {
        (example, case): run_example(example, "--topic", topic, "--port", str(port or free_port()),
                                     "--token", refusing.subscriber_token, cwd=tmp_path)
        for example in ("receiver.py", "subscriber.py")
        for case, (topic, port, _) in cases.items()
    }
    results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    for (example, case), (code, out, err) in results.items():
        expected = cases[case][2]
        assert code == 1, (example, case, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (example, case, err)
        assert err.startswith(f"{example}: ") and expected in err, (example, case, err)


async def test_the_receiver_reads_the_hub_from_the_topic_and_prints_rejections(
    hubs: tuple[RunningHub, RunningHub], tmp_path: Path
) -> None:
    """Walkthrough 7: a hub on any port but 8080 (here a random one), no --issuer given."""
    hub = hubs[0]
    topic = hub.topic_url("login")
    outputs = {name: tmp_path / f"{name}.out" for name in ("plain", "wrong-issuer")}
    children = {}
    for name, extra in (("plain", []), ("wrong-issuer", ["--issuer", "https://elsewhere"])):
        with outputs[name].open("w") as handle:
            children[name] = subprocess.Popen(
                [sys.executable, str(EXAMPLES / "receiver.py"), "--topic", topic,
                 "--port", str(free_port()), "--replay-db", str(tmp_path / f"{name}.db"),
                 "--token", hub.subscriber_token, *extra],
                stdout=handle, stderr=subprocess.STDOUT)
    try:
        for name in children:
            await until(lambda n=name: f"subscribed to {topic}" in outputs[n].read_text(),
                        timeout=30)
        event = {"type": "login-failed", "subject": {"format": "email", "email": "j@example.com"},
                 "data": {"reason": "bad password"}}
        async with hub.session.post(f"{hub.settings.base_url}/events", json=event,
                                    headers={"Authorization": f"Bearer {hub.token}"}) as r:
            assert r.status == 202
        verified = 'verified login-failed for {"format": "email", "email": "j@example.com"}'
        await until(lambda: verified in outputs["plain"].read_text(), timeout=30)
        await until(lambda: "rejected a SET: invalid_issuer" in outputs["wrong-issuer"].read_text(),
                    timeout=30)
        for child in children.values():
            child.send_signal(signal.SIGTERM)
        for name, child in children.items():
            assert await asyncio.to_thread(child.wait, 20) == 0, outputs[name].read_text()
            assert "Traceback" not in outputs[name].read_text()
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
