"""README.md stays true: its set-up commands are the ones CI runs, and its quickstart and plain
WebSub example work as written.

The README's shell blocks run here in real shells, fed one command at a time as a user types
them, each terminal its own bash process (Ctrl-C is a SIGINT to its process group), in an empty
directory where `sethub.db` and `sethub-keys/` land by default. Only the port differs: the hub
gets a free one through SETHUB_PORT (and `sethub publish` through SETHUB_HUB), and the README's
`127.0.0.1:8080` is rewritten to it. The set_tokens snippet is run by
tests/set_tokens/test_readme_snippet.py, "Run several nodes" is checked by tests/test_docker.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from .support import free_port, until

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
README_HUB = "127.0.0.1:8080"
COMMAND_TIMEOUT = 30.0


def section(title: str) -> str:
    """The README's `## title` section, up to the next `## ` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def blocks(text: str, language: str = "sh") -> list[str]:
    """The fenced code blocks of `text` whose info string is `language` ("" for none)."""
    found: list[str] = []
    opened: str | None = None
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("```") and opened is None:
            opened, lines = line[3:].strip(), []
        elif line.startswith("```"):
            if opened == language:
                found.append("".join(lines))
            opened = None
        elif opened is not None:
            lines.append(line)
    return found


def commands(block: str) -> list[str]:
    """The block's commands, one per line as typed: continuation lines joined, comments kept
    (the shell drops them)."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


class Terminal:
    """A bash process fed commands one at a time, as a user types them in a terminal."""

    _numbers = itertools.count()

    def __init__(self, name: str, directory: Path, env: dict[str, str]) -> None:
        self.log = directory.parent / f"{directory.name}-{name}.out"
        with self.log.open("w") as handle:
            self.process = subprocess.Popen(
                ["bash", "-o", "pipefail"], cwd=directory, env=env, stdin=subprocess.PIPE,
                stdout=handle, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def type(self, command: str) -> None:
        """Start `command` without waiting for it (a server, or a job with `&`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    async def run(self, command: str) -> None:
        """Run `command` to its end; it must succeed."""
        number = next(self._numbers)
        self.type(f"{command}\nprintf '\\n<<<%d:%d>>>\\n' {number} $?")
        done = re.compile(rf"<<<{number}:(\d+)>>>")
        await until(lambda: done.search(self.output()), timeout=COMMAND_TIMEOUT)
        status = done.search(self.output())
        assert status is not None and status.group(1) == "0", (command, self.output())

    async def interrupt(self) -> None:
        """Ctrl-C: SIGINT to every process of the terminal; then the terminal is closed."""
        os.killpg(self.process.pid, signal.SIGINT)
        await asyncio.sleep(0)
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.to_thread(self.process.wait, COMMAND_TIMEOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def user_environment(port: int) -> dict[str, str]:
    """A shell's environment with this interpreter's `sethub` first on PATH, no SETHUB_* of the
    test run's own, and the hub's port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETHUB_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SETHUB_PORT"] = str(port)
    env["SETHUB_HUB"] = f"http://127.0.0.1:{port}"
    return env


def on_port(text: str, port: int) -> str:
    return text.replace(README_HUB, f"127.0.0.1:{port}")


async def healthy(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


def test_readme_opens_with_the_install_and_test_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "pip install -e . && sethub serve" in first_block
    assert "pip install -e '.[test]' && python -m pytest -q -n 2" in first_block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q -n 2" in ci
    assert "pip install --quiet -e '.[test]'" in ci


def test_the_readme_stays_short() -> None:
    """The developers' rule: at most ~200 lines; reference material goes in docs/ (whose pages,
    like this one, tests/test_docs.py keeps free of the history of the work)."""
    assert len(README.splitlines()) <= 210


async def test_the_quickstart_and_the_plain_websub_example_run_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's examples use curl, which is not installed")
    quickstart = section("Quickstart: see a signed identity event arrive")
    serve, receiver, publisher = blocks(quickstart)
    (expected,) = blocks(quickstart, language="")
    subscribed = re.search(r"It prints `(subscribed to [^`]+)`", quickstart)
    assert subscribed is not None and README_HUB in receiver
    (curl_event,) = blocks(section("Identity events and topics"))
    (content_example,) = blocks(section("Plain WebSub"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "user"
    home.mkdir()
    env = user_environment(port)
    terminals = {name: Terminal(name, home, env) for name in ("hub", "receiver", "publisher")}
    hub, listener, shell = terminals["hub"], terminals["receiver"], terminals["publisher"]
    try:
        (start,) = commands(serve)
        hub.type(start)
        await until(lambda: healthy(base), timeout=COMMAND_TIMEOUT)

        *before, listen = commands(on_port(receiver, port))
        for command in before:
            await listener.run(command)
        listener.type(listen)
        await until(lambda: on_port(subscribed.group(1), port) in listener.output(),
                    timeout=COMMAND_TIMEOUT)

        for command in commands(on_port(publisher + curl_event, port)):
            await shell.run(command)
        line = expected.strip()
        await until(lambda: listener.output().count(line) == 2, timeout=COMMAND_TIMEOUT)

        # Plain WebSub, in the publisher's terminal: its TOKEN is still set. A user sees the
        # listener subscribe before posting, and the post arrive before stopping the listener.
        news = f"{base}/topics/news"
        printed = re.search(r"The listener prints `([^`]+)`", section("Plain WebSub"))
        assert printed is not None
        *content_commands, stop = commands(on_port(content_example, port))
        assert stop.startswith("kill %1")
        for command in content_commands:
            await shell.run(command)
            if command.rstrip().endswith("&"):
                await until(lambda: f"subscribed to {news}" in shell.output(),
                            timeout=COMMAND_TIMEOUT)
        await until(lambda: printed.group(1) in shell.output(), timeout=COMMAND_TIMEOUT)
        await shell.run(stop)
        await until(lambda: f"unsubscribed from {news}" in shell.output(), timeout=COMMAND_TIMEOUT)

        await listener.interrupt()  # "Ctrl-C in terminal 2 unsubscribes"
        assert f"unsubscribed from {base}/topics/login" in listener.output()
        await hub.interrupt()
        assert hub.process.returncode == 0, hub.output()
        for terminal in terminals.values():
            assert "Traceback" not in terminal.output(), terminal.output()
    finally:
        for terminal in terminals.values():
            terminal.close()
