"""`hub.cli.main` run in this process, as the console script runs it, for fast command tests.

The environment, working directory and umask are set and restored around each call: a subprocess
per command would cost a second of imports each. What needs another user's view of file modes,
or a hub that keeps running, is started as a process instead (see process.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.cli import main


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


Sethub = Callable[..., Ran]
AsyncSethub = Callable[..., Awaitable[Ran]]


def in_process_sethub(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Sethub:
    """A `sethub(*args, env=..., cwd=...)` that sees only the SETHUB_* variables it is given."""
    for name in list(os.environ):
        if name.startswith("SETHUB_"):
            monkeypatch.delenv(name)

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
        capsys.readouterr()
        with monkeypatch.context() as scope:
            for name, value in (env or {}).items():
                scope.setenv(name, value)
            if cwd is not None:
                scope.chdir(cwd)
            umask = os.umask(0o022)  # main() sets its own; this process keeps its umask
            try:
                code = main(list(args))
            except SystemExit as exit_:  # --help, --version and argument errors
                code = int(exit_.code or 0)
            finally:
                os.umask(umask)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def in_thread_sethub(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncSethub:
    """`await sethub(*args, ...)` for async tests: the command runs its own event loop
    (asyncio.run), so it runs on a worker thread while the test's loop goes on serving the
    hub in this process, as a `sethub` process next to a running hub would. One call at a
    time: the environment and the captured output are the process's."""
    run = in_process_sethub(monkeypatch, capsys)

    async def run_in_thread(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Ran:
        return await asyncio.to_thread(run, *args, env=env, cwd=cwd)

    return run_in_thread


def one_line_error(done: Ran, code: int, fragment: str) -> None:
    """`done` failed with `code` and exactly one line on stderr, `sethub: ...FRAGMENT...`."""
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sethub: "), done.stderr
    assert fragment in done.stderr, done.stderr
