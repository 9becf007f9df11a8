"""When to try a failed delivery again: small pure functions, testable without a clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["next_retry_delay", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delta-seconds; isdigit() alone also takes "²"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def next_retry_delay(
    attempts_made: int,
    schedule: Sequence[float],
    *,
    jitter: float,
    retry_after: float | None = None,
    retry_after_max: float,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Delay before the next attempt, or None when the retry budget is spent.

    The scheduled delay is spread by +/- `jitter` (a fraction) so a recovering subscriber is not
    hit by every queued delivery at once. A Retry-After longer than the schedule is honoured up
    to `retry_after_max`; a shorter one never brings a retry forward.
    """
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = base * (1.0 + jitter * (2.0 * rand() - 1.0))
    if retry_after is not None:
        delay = max(delay, min(retry_after, retry_after_max))
    return max(0.0, delay)
