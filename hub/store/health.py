"""What a store's own writes show of its health, whatever the database (see `errors.StoreHealth`).

A failed write is reported until a later write that changed data succeeds or, if none comes,
for FAILURE_REPORTED_FOR seconds: a hub that a load balancer took out of rotation for it gets
traffic back to try, and a write that still fails reports it anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .errors import StoreHealth

__all__ = ["FAILURE_REPORTED_FOR", "HealthWatch"]

log = logging.getLogger("sethub.store")

FAILURE_REPORTED_FOR = 60.0


class HealthWatch:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._health = StoreHealth()  # replaced whole: read from any thread

    @property
    def health(self) -> StoreHealth:
        health = self._health
        if health.failed_at is not None and self._clock() - health.failed_at >= (
            FAILURE_REPORTED_FOR
        ):
            return StoreHealth()
        return health

    def write_failed(self, reason: str) -> None:
        if self.health.ok:  # once per run of failures, not once per failed write
            log.warning("database writes fail: %s", reason)
        self._health = StoreHealth(failure=reason, failed_at=self._clock())

    def data_written(self) -> None:
        if self._health.failure is not None:
            log.info("database writes succeed again")
            self._health = StoreHealth()
