"""Signing processes that the event loop feeds itself, over one socket pair each.

Why not concurrent.futures.ProcessPoolExecutor: it moves every batch through two helper threads
of the hub's process, one that pickles and writes and one that reads and unpickles, and each of
them has to win the GIL from a busy event loop. At full fan-out a batch of ~70 SETs that takes
3 ms to sign came back after 10-12 ms (bench/fanout.py, timed in `SetSigner`), and claimed
deliveries waited on it. Here the loop writes a request to an idle process's socket and reads
the answer when it arrives, like any other I/O.

Each process handles one request at a time. One that dies mid-request (killed from outside) is
replaced, and the caller gets `SigningProcessDied` to retry on. A process ends when its socket
closes (see `child.serve`), so none outlives the hub.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from . import child
from .child import FRAME_HEADER

__all__ = ["SigningPool", "SigningProcessDied"]

STOP_TIMEOUT = 5.0  # seconds a closed process gets to exit before it is killed


class SigningProcessDied(RuntimeError):
    """A signing process ended while it held a request (the OOM killer, a signal)."""


class _Member:
    __slots__ = ("process", "reader", "writer")

    def __init__(
        self, process: BaseProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer


class SigningPool:
    def __init__(self, size: int, context: BaseContext) -> None:
        self._size = size
        self._context = context
        self._members: list[_Member] = []
        self._idle: asyncio.Queue[_Member] = asyncio.Queue()
        self._starting: asyncio.Future[None] | None = None
        self._dropping: set[asyncio.Future[None]] = set()  # answers nobody waits for any more
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The processes' ids, started ones only."""
        return [m.process.pid for m in self._members if m.process.pid is not None]

    async def start(self) -> None:
        """Start every process; concurrent and later calls share the one start (a failed one
        is tried again by the next call)."""
        if self._starting is None or (
            self._starting.done() and not self._starting.cancelled() and self._starting.exception()
        ):
            self._starting = asyncio.ensure_future(self._start_all())
        await asyncio.shield(self._starting)

    async def _start_all(self) -> None:
        while len(self._members) < self._size:
            member = await self._spawn()
            self._members.append(member)
            self._idle.put_nowait(member)

    async def _spawn(self) -> _Member:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=child.serve, args=(theirs,), name="sethub-signing", daemon=True
        )
        try:
            # On a thread: the first process may have to wait for the fork server to start.
            await asyncio.get_running_loop().run_in_executor(None, process.start)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the process has its own copy
        reader, writer = await asyncio.open_connection(sock=ours)
        return _Member(process, reader, writer)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` in a signing process (both must pickle; `function` by name)."""
        if self._closed:
            raise RuntimeError("the signing pool is closed")
        request = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        await self.start()
        member = await self._idle.get()
        size: int | None = None  # the answer's length, once its header is read
        try:
            member.writer.write(FRAME_HEADER.pack(len(request)) + request)
            await member.writer.drain()
            (size,) = FRAME_HEADER.unpack(await member.reader.readexactly(FRAME_HEADER.size))
            answer = await member.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self._replace(member)
            raise SigningProcessDied(f"signing process {member.process.pid} ended") from exc
        except asyncio.CancelledError:
            # The request is on its way and will be answered: that answer must be read before
            # the process takes another request, or the next caller would get it. (A cancelled
            # readexactly consumes nothing.) Reading it here, not in a task per call, saves
            # the event loop two turns per batch.
            dropping = asyncio.ensure_future(self._drop_answer(member, size))
            self._dropping.add(dropping)
            dropping.add_done_callback(self._dropping.discard)
            raise
        self._idle.put_nowait(member)  # a whole answer was read: the stream is in step
        status, value = pickle.loads(answer)  # noqa: S301 (from our own child)
        if status != "ok":
            raise value
        return value

    async def _drop_answer(self, member: _Member, size: int | None) -> None:
        try:
            if size is None:
                (size,) = FRAME_HEADER.unpack(await member.reader.readexactly(FRAME_HEADER.size))
            await member.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self._replace(member)
            return
        self._idle.put_nowait(member)

    def _retire(self, member: _Member) -> None:
        member.writer.close()  # the process exits when it reads the end of its socket
        if member in self._members:
            self._members.remove(member)

    async def _replace(self, dead: _Member) -> None:
        dead.writer.close()
        await asyncio.get_running_loop().run_in_executor(None, _reap, dead.process)
        if self._closed:
            self._retire(dead)
            return
        try:
            replacement = await self._spawn()
        except BaseException:
            self._retire(dead)
            self._starting = None  # the next call starts the missing process
            raise
        self._members[self._members.index(dead)] = replacement
        self._idle.put_nowait(replacement)

    async def close(self) -> None:
        """Close every socket (each process then exits), and wait for the processes, and for
        the answers still being read for abandoned requests (they end at the closed socket)."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        for member in self._members:
            member.writer.close()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(None, _reap, member.process) for member in self._members)
        )
        await asyncio.gather(*self._dropping, return_exceptions=True)


def _reap(process: BaseProcess) -> None:
    """Wait for a process whose socket is closed, killing it if it does not exit in time."""
    process.join(STOP_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
