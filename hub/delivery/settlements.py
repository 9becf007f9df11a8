"""From what an attempt did to the settlement written for it: a delivery's next state, under
the retry schedule. Pure functions: the dispatcher queues what they return."""

from __future__ import annotations

import logging

from ..config import Settings
from ..outbound.loggable import loggable_url
from ..store import Attempt, DeliveryState, DueDelivery, Settlement
from .outcomes import Outcome, Verdict
from .retry import next_retry_delay

__all__ = ["bare", "settlement_for"]

log = logging.getLogger("sethub.dispatch")


def settlement_for(
    item: DueDelivery, sent: bytes | None, attempt: Attempt, verdict: Verdict, settings: Settings
) -> Settlement:
    """`sent` is the SET signed for this attempt, kept for retries (and operators) when the
    delivery is not done. Every failure counts against the retry budget."""
    now = attempt.started_at + attempt.duration
    next_attempt_at: float | None = None
    outcome = verdict.outcome
    if outcome is Outcome.DELIVERED:
        state = DeliveryState.DELIVERED
    elif outcome is Outcome.GONE:
        state = DeliveryState.CANCELLED
    elif outcome is Outcome.REJECTED:
        state = DeliveryState.DEAD
        log.warning(
            "delivery %s rejected by %s: %s (not retried)",
            item.id,
            loggable_url(item.callback),
            verdict.rejection,
        )
    else:
        delay = next_retry_delay(
            item.attempts + 1,
            settings.retry_schedule,
            jitter=settings.retry_jitter,
            retry_after=verdict.retry_after,
            retry_after_max=settings.retry_after_max,
        )
        if delay is None:
            state = DeliveryState.DEAD
            log.warning(
                "delivery %s to %s dead-lettered after %s attempts (%s)",
                item.id,
                loggable_url(item.callback),
                item.attempts + 1,
                attempt.error,
            )
        else:
            state, next_attempt_at = DeliveryState.PENDING, now + delay
    keep = sent is not None and state in (DeliveryState.PENDING, DeliveryState.DEAD)
    return Settlement(
        item.id,
        item.subscription_id,
        attempt,
        state,
        next_attempt_at=next_attempt_at,
        rejection=verdict.rejection,  # set only when the receiver rejected the SET
        body=sent if keep else None,
        lease=item.lease,
    )


def bare(settlement: Settlement) -> Settlement:
    """The same state change without the attempt's details and the SET kept for retries: what
    is written when the full settlement cannot be, so that the attempt still counts."""
    attempt = settlement.attempt
    return Settlement(
        settlement.delivery_id,
        settlement.subscription_id,
        Attempt(
            started_at=attempt.started_at,
            duration=attempt.duration,
            outcome=attempt.outcome,
            status=attempt.status,
            error="the outcome could not be recorded in full",
        ),
        settlement.state,
        next_attempt_at=settlement.next_attempt_at,
        lease=settlement.lease,
    )
