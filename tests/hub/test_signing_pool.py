"""The signing pool with real processes: answers, errors, a process killed mid-request, a caller
that gives up, and closing."""

from __future__ import annotations

import asyncio
import multiprocessing
import operator
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from hub.signing.pool import SigningPool, SigningProcessDied

from .process import running_processes
from .support import until


@pytest.fixture
async def pool() -> AsyncIterator[SigningPool]:
    started = SigningPool(2, multiprocessing.get_context("forkserver"))
    await started.start()
    yield started
    await started.close()


async def test_calls_run_in_the_processes_and_errors_come_back(pool: SigningPool) -> None:
    assert len(pool.pids) == 2 and os.getpid() not in pool.pids
    assert await pool.call(os.getpid) in pool.pids
    answers = await asyncio.gather(*(pool.call(operator.add, n, n) for n in range(20)))
    assert answers == [2 * n for n in range(20)]
    big = await pool.call(bytes, 3_000_000)  # far beyond a socket's buffer, both ways
    assert big == bytes(3_000_000)
    assert await pool.call(len, big) == 3_000_000
    with pytest.raises(ValueError, match="invalid literal"):
        await pool.call(int, "not a number")
    assert await pool.call(operator.add, 1, 2) == 3  # the process survives its error


async def test_a_process_killed_mid_request_is_replaced(pool: SigningPool) -> None:
    first = pool.pids
    calls = [asyncio.ensure_future(pool.call(time.sleep, 30)) for _ in range(2)]
    await asyncio.sleep(0.3)  # both requests are in their processes
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    for call in calls:
        with pytest.raises(SigningProcessDied):
            await call
    await until(lambda: not running_processes(first))
    assert await pool.call(operator.mul, 6, 7) == 42
    assert len(pool.pids) == 2 and not set(pool.pids) & set(first)


async def test_a_caller_that_gives_up_leaves_the_process_in_step(pool: SigningPool) -> None:
    """The answer to an abandoned request is read and dropped, not handed to the next caller."""
    for _ in range(2):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.call(time.sleep, 0.3), timeout=0.05)
    # Bounded: a process lost to an abandoned request would leave these waiting forever.
    answers = await asyncio.wait_for(
        asyncio.gather(*(pool.call(operator.add, n, 1) for n in range(4))), timeout=10
    )
    assert answers == [1, 2, 3, 4]
    assert len(pool.pids) == 2


async def test_closing_ends_every_process() -> None:
    pool = SigningPool(2, multiprocessing.get_context("forkserver"))
    await pool.start()
    pids = pool.pids
    await pool.close()
    assert not running_processes(pids)
    with pytest.raises(RuntimeError, match="closed"):
        await pool.call(operator.add, 1, 1)
