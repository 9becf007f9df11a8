"""README.md stays true: every setting documented, and the quickstart works as written."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

from hub.config import Settings

from .process import create_token, start_hub_process
from .support import free_port, until

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    for name in Settings.model_fields:
        flag = "--" + name.replace("_", "-")
        assert re.search(rf"\| `{flag}` \| `SETHUB_{name.upper()}` \|", README), name


def test_readme_opens_with_the_install_and_test_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "pip install -e . && sethub serve" in first_block
    assert "pip install -e '.[test]' && python -m pytest -q" in first_block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci
    assert "pip install --quiet -e '.[test]'" in ci


async def test_quickstart_example_subscriber_prints_a_delivery(tmp_path: Path) -> None:
    """The README's three terminals, with the hub and the example subscriber as subprocesses."""
    db, port, sub_port = tmp_path / "sethub.db", free_port(), free_port()
    hub = await start_hub_process(db, port, "--allow-private-callbacks")
    token = create_token(db)
    topic = f"http://127.0.0.1:{port}/topics/news"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    out = tmp_path / "subscriber.out"
    listener = None
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(topic, data="first post", headers=headers) as response:
                assert response.status == 202
            with out.open("w") as handle:
                listener = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "examples" / "subscriber.py"),
                        "--topic",
                        topic,
                        "--hub",
                        f"http://127.0.0.1:{port}/hub",
                        "--port",
                        str(sub_port),
                    ],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            await until(
                lambda: "verified subscribe (lease 864000 s)" in out.read_text(), timeout=20
            )
            async with session.post(topic, data="second post", headers=headers) as response:
                assert response.status == 202
            await until(lambda: "delivery (text/plain): second post" in out.read_text(), timeout=20)
        listener.terminate()
        await asyncio.to_thread(listener.wait, 10)
        assert "verified unsubscribe" in out.read_text()
    finally:
        if listener is not None and listener.poll() is None:
            listener.kill()
        assert hub.terminate() == 0


RECEIVER_LINES = (
    "SUBTOKEN=$(sethub tokens create --scope subscribe:login | tail -n 1)",
    'python examples/receiver.py --topic http://127.0.0.1:8080/topics/login --token "$SUBTOKEN"',
)


async def test_identity_quickstart_receiver_prints_the_verified_event(tmp_path: Path) -> None:
    """The README's identity quickstart: hub, a subscriber token and examples/receiver.py,
    `sethub publish`; the README's receiver commands run here as written (on other ports)."""
    from .process import run_sethub

    terminal_2 = README.split("Terminal 2", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert terminal_2.strip().splitlines() == list(RECEIVER_LINES)
    db, port, receiver_port = tmp_path / "sethub.db", free_port(), free_port()
    hub = await start_hub_process(db, port, "--allow-private-callbacks")
    token = create_token(db)
    subscriber_token = create_token(db, scope="subscribe:login")
    out = tmp_path / "receiver.out"
    receiver = None
    base = f"http://127.0.0.1:{port}"
    try:
        with out.open("w") as handle:
            receiver = subprocess.Popen(
                [sys.executable, str(ROOT / "examples" / "receiver.py"),
                 "--topic", f"{base}/topics/login", "--token", subscriber_token,
                 "--issuer", base, "--port", str(receiver_port)],
                stdout=handle, stderr=subprocess.STDOUT, cwd=tmp_path,  # its receiver-jti.db
            )
        await until(lambda: f"subscribed to {base}/topics/login" in out.read_text(), timeout=20)
        published = await asyncio.to_thread(
            run_sethub, "publish", "--hub", base, "--token", token,
            "--type", "USER_LOGIN_FAILURE",
            "--subject", '{"format":"email","email":"jane@example.com"}',
            "--data", '{"reason":"bad password"}',
        )
        assert published.returncode == 0, published.stdout + published.stderr
        assert '"subscriptions": 1' in published.stdout
        expected = ('verified login-failed for {"format": "email", "email": "jane@example.com"}:'
                    ' {"reason": "bad password"}')
        await until(lambda: expected in out.read_text(), timeout=20)
        receiver.terminate()
        await asyncio.to_thread(receiver.wait, 10)
    finally:
        if receiver is not None and receiver.poll() is None:
            receiver.kill()
        assert hub.terminate() == 0
