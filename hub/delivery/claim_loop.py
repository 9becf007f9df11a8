"""The claim-and-handle loop shared by the verifier of intent and the delivery dispatcher.

A worker claims due items from the store (leases), handles each in its own task up to a capacity,
and sleeps until woken (new work was stored here) or the poll interval passes (work became due, or
another node stored it). Stopping stops claiming, lets in-flight items finish up to a timeout, then
cancels and awaits what is left: unfinished claims simply expire and the items are claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Generic, Protocol, TypeVar

__all__ = ["Claimed", "Worker"]


class Claimed(Protocol):
    """A claimed work item: logs name it by its id, never by its contents (secrets, bodies)."""

    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=Claimed)
log = logging.getLogger("sethub.worker")
CLAIM_ERROR_BACKOFF_SECONDS = 1.0


class Worker(ABC, Generic[T]):
    name = "worker"

    def __init__(self, *, capacity: int, poll_interval: float, refill: int = 1) -> None:
        """A finished item wakes the claim loop only when it brings the free slots up to
        `refill`: one claim per finished item made claims (a transaction and an index scan
        each) the store's main cost at full fan-out."""
        self.capacity = capacity
        self.refill = max(1, min(refill, capacity))
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    @abstractmethod
    async def claim(self, limit: int) -> list[T]:
        """Lease up to `limit` due items."""

    @abstractmethod
    async def handle(self, item: T) -> None:
        """Process one claimed item and record its outcome durably."""

    def wake(self) -> None:
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"sethub-{self.name}")

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before claiming: a wake-up during the claim is not lost
            free = self.free_slots()
            if free > 0:
                try:
                    items = await self.claim(free)
                except Exception:
                    log.exception("%s: claiming work failed", self.name)
                    await asyncio.sleep(CLAIM_ERROR_BACKOFF_SECONDS)
                    continue
                for item in items:
                    task = asyncio.create_task(self._guarded(item))
                    self._inflight.add(task)
                    task.add_done_callback(self._done)
                if items and len(items) == free:
                    continue  # a full batch: more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def free_slots(self) -> int:
        """How many more items to claim now."""
        return self.capacity - len(self._inflight)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self.free_slots() == self.refill:
            self._wake.set()

    async def failed(self, item: T, exc: Exception) -> None:
        """`handle(item)` raised. By default the item is tried again once its claim expires; a
        worker that can record the failure at once (and count it) does so here."""
        log.error(
            "%s: handling item %s failed (%s); it will be retried when its claim expires",
            self.name,
            item.id,  # never the item itself: its repr would name secrets and bodies
            type(exc).__name__,
            exc_info=exc,
        )

    async def _guarded(self, item: T) -> None:
        try:
            await self.handle(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            try:
                await self.failed(item, exc)
            except Exception:
                log.exception("%s: recording a failure failed", self.name)

    async def stop(self, timeout: float) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
