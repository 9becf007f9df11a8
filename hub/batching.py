"""Group commit: many concurrent writers, one transaction (one fsync) per short window.

Each `submit` returns once its item is durable, so callers keep their semantics (a delivery's
outcome is recorded before its slot is freed) while the disk sees one commit for a whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["WriteBatcher"]

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_MAX_ITEMS = 256
DEFAULT_MAX_DELAY = 0.002  # seconds a write may wait for company


class WriteBatcher(Generic[T, R]):
    """`write(items)` stores a batch and returns one result per item (or None for none)."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R] | None]],
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self._write = write
        self._max_items = max_items
        self._max_delay = max_delay
        self._queue: list[tuple[T, asyncio.Future[R | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def submit(self, item: T) -> R | None:
        future: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if len(self._queue) >= self._max_items:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return await future

    async def _flush_soon(self) -> None:
        while self._queue:
            self._full.clear()
            if len(self._queue) < self._max_items:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._max_delay)
            batch, self._queue = self._queue[: self._max_items], self._queue[self._max_items :]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                answers = list(results) if results is not None else [None] * len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
