"""How a store tells the hub that new work was stored, whatever the database.

A repository fires the signal after the commit that stored the work, never before: a worker
woken by it finds the work. Listeners are plain callables that only set a flag or an event
(`Worker.wake`); one that raises is logged and the others still hear the news.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .records import WorkKind

__all__ = ["WorkSignal"]

log = logging.getLogger("sethub.store")


class WorkSignal:
    def __init__(self) -> None:
        self._listeners: list[Callable[[WorkKind], None]] = []

    def connect(self, listener: Callable[[WorkKind], None]) -> None:
        self._listeners.append(listener)

    def fire(self, kind: WorkKind) -> None:
        for listener in self._listeners:
            try:
                listener(kind)
            except Exception:
                log.exception("a listener for new %s failed", kind)
