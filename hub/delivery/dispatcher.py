"""Content distribution (WebSub §7): claim due deliveries, POST them, settle each attempt.

Outcomes: 2xx delivered; 410 Gone ends the subscription; anything else, and no answer at all, is
retried on the schedule (Retry-After honoured up to a cap); once the budget is spent the delivery is
dead-lettered and the subscription stays active (§7: later updates are still tried).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from functools import partial

from prometheus_client import Counter

from ..batching import Batcher
from ..config import Settings
from ..metrics import Metrics
from ..outbound import OutboundClient, OutboundError
from ..outbound.loggable import loggable_url
from ..store import (
    Attempt,
    DeliveryState,
    DueDelivery,
    EventKind,
    Settlement,
    Store,
)
from ..websub import link_header, signature_header
from .claim_loop import Worker
from .retry import next_retry_delay, parse_retry_after

__all__ = ["Dispatcher", "Outcome", "Renderer", "classify", "rejection_code"]

log = logging.getLogger("sethub.dispatch")

RESPONSE_READ_LIMIT = 4096  # §7: the response body is ignored; read a little for the logs
# Deliveries claimed, as a multiple of the concurrency caps (global and per subscription): the
# next ones are signed and recorded while the current ones are on the wire, so the caps are spent
# on requests. The caps themselves bound requests, and a subscription never holds more than
# max_concurrent_deliveries claims, so a slow one cannot starve the others.
CLAIM_AHEAD = 4
FIXED_HEADERS_CACHE_SIZE = 4096  # (topic, content type, kind) triples


# Renders an identity event into the subscription's own body (a signed SET).
Renderer = Callable[[DueDelivery], Awaitable[bytes]]


class Outcome(StrEnum):
    DELIVERED = "delivered"
    GONE = "gone"
    REJECTED = "rejected"  # RFC 8935 §2.3: the receiver refused this SET for good
    FAILED = "failed"
    UNREACHABLE = "unreachable"


def rejection_code(status: int, content_type: str, body: bytes) -> str | None:
    """The RFC 8935 `err` of a 400 answer to a SET delivery, or None if it is not one."""
    if status != 400 or not content_type.startswith("application/json"):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    err = document.get("err") if isinstance(document, dict) else None
    return err if isinstance(err, str) and err else None


def classify(status: int, *, rejected: bool = False) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    if rejected:
        return Outcome.REJECTED
    return Outcome.FAILED


class Dispatcher(Worker[DueDelivery]):
    name = "dispatcher"

    def __init__(
        self,
        store: Store,
        client: OutboundClient,
        settings: Settings,
        metrics: Metrics,
        *,
        owner: str,
        clock: Callable[[], float],
        renderer: Renderer | None = None,
    ) -> None:
        super().__init__(
            capacity=settings.max_concurrent_deliveries * CLAIM_AHEAD,
            poll_interval=settings.poll_interval,
            refill=settings.max_concurrent_deliveries,
        )
        cap = settings.max_concurrent_per_subscription
        # A subscription holds at most `window` claims and is topped up once it is down to
        # `refill_at`: a claim per few deliveries, not one per finished delivery.
        self._window = min(cap * CLAIM_AHEAD, settings.max_concurrent_deliveries)
        self._refill_at = self._window // 2
        self._saturated = False  # the last claim found nothing outside the busy subscriptions
        self._requests = asyncio.Semaphore(settings.max_concurrent_deliveries)
        self._renderer = renderer
        self._store = store
        self._client = client
        self._settings = settings
        self._hub_url = settings.hub_url  # a property that builds the URL on every read
        self._metrics = metrics
        self._owner = owner
        self._clock = clock
        self._per_subscription: dict[int, int] = {}
        self._gates: dict[int, asyncio.Semaphore] = {}
        self._ended: set[int] = set()  # answered 410 while later deliveries were claimed
        # The settlements of all in-flight deliveries share one group commit.
        self._writes: Batcher[Settlement, None] = Batcher(store.deliveries.record_many)
        self._settling: set[asyncio.Future[None]] = set()  # queued writes, awaited by stop()
        self._fixed_headers: dict[tuple[str, str, EventKind], dict[str, str]] = {}
        self._attempts_counted: dict[Outcome, Counter] = {}  # labels() is not free per delivery

    def work_stored(self) -> None:
        """New deliveries were stored. While every subscription with claims is busy and the last
        claim found nothing else, the next top-up of any of them (or the next poll) claims these
        too: a claim per publish would scan the busy subscriptions' backlog every time."""
        if not self._saturated:
            self.wake()

    async def claim(self, limit: int) -> list[DueDelivery]:
        cap = self._settings.max_concurrent_per_subscription
        held = dict(self._per_subscription)
        busy = [sid for sid, count in held.items() if count > self._refill_at]
        claimed = await self._store.deliveries.claim_due(
            owner=self._owner,
            now=self._clock(),
            ttl=self._settings.claim_ttl,
            limit=limit,
            per_subscription=self._window,
            held=held,
            busy_subscriptions=busy,
        )
        self._saturated = bool(busy) and not claimed
        # Counted at claim time, not when the task starts, so the next claim already sees them.
        for item in claimed:
            sid = item.subscription_id
            self._per_subscription[sid] = self._per_subscription.get(sid, 0) + 1
            if sid not in self._gates:
                self._gates[sid] = asyncio.Semaphore(cap)
        return claimed

    async def handle(self, item: DueDelivery) -> None:
        """Render if this is the first attempt, send under the subscription's concurrency cap,
        then queue the outcome for the next group commit. The cap bounds requests to the
        subscriber, so it is released before the write; the delivery stays claimed until that
        write lands, so nothing is sent twice meanwhile.

        A delivery claimed ahead is not sent once its subscription has answered 410: ending the
        subscription cancels it in the store.
        """
        sid = item.subscription_id
        body = item.body
        rendered_now = not item.rendered
        try:
            if rendered_now:
                body = await self._render(item)
            async with self._gates[sid]:
                if sid in self._ended:
                    return
                async with self._requests:
                    attempt, outcome, retry_after, rejection = await self._attempt(item, body)
                if outcome is Outcome.GONE:
                    self._ended.add(sid)
        finally:
            remaining = self._per_subscription[sid] - 1
            if remaining == self._refill_at:
                self.wake()  # this subscription can be topped up
            if remaining:
                self._per_subscription[sid] = remaining
            else:
                del self._per_subscription[sid]
                del self._gates[sid]
                self._ended.discard(sid)
        settled = self._settle(
            item, body if rendered_now else None, attempt, outcome, retry_after, rejection
        )
        if outcome is Outcome.GONE:
            await settled
            now = attempt.started_at + attempt.duration
            await self._store.subscriptions.remove_by_id(sid, now=now)
            log.info("subscription %s ended by 410 from %s", sid, loggable_url(item.callback))

    def free_slots(self) -> int:
        """Outcomes not yet written count too, beyond the tasks: if the store falls behind the
        wire, claiming stops until it catches up, so no claim can expire (and its delivery be
        sent again) while its outcome waits in memory."""
        return min(super().free_slots(), self.capacity - len(self._settling))

    async def stop(self, timeout: float) -> None:
        """Stop claiming and sending, then wait for the outcomes already queued to be written."""
        await super().stop(timeout)
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=timeout)

    def _headers(self, item: DueDelivery, body: bytes) -> Mapping[str, str]:
        """The headers of a delivery. All but the signature are the same for every delivery of
        a topic, so they are built once (the caller never changes them)."""
        key = (item.topic, item.content_type, item.kind)
        headers = self._fixed_headers.get(key)
        if headers is None:
            if len(self._fixed_headers) >= FIXED_HEADERS_CACHE_SIZE:
                self._fixed_headers.clear()
            headers = self._fixed_headers[key] = {
                "Content-Type": item.content_type,
                "Link": link_header(self._hub_url, item.topic),
            }
            if item.kind is EventKind.IDENTITY:
                headers["Accept"] = "application/json"  # RFC 8935 §2.1
        if not item.secret:
            return headers
        signature = signature_header(item.secret, body, self._settings.signature_algorithm)
        return {**headers, "X-Hub-Signature": signature}

    async def _render(self, item: DueDelivery) -> bytes:
        """Sign the subscription's own SET. Its jti was drawn when the delivery was stored, so
        nothing is written before sending: a failed attempt's outcome keeps the SET for every
        retry, and after a crash mid-attempt the SET signed again has the same jti. (Writing it
        first cost a group commit per delivery on the way to the wire.)"""
        if self._renderer is None:
            raise RuntimeError("an identity event is due but the hub has no SET renderer")
        return await self._renderer(item)

    async def _attempt(
        self, item: DueDelivery, body: bytes
    ) -> tuple[Attempt, Outcome, float | None, str | None]:
        started = self._clock()
        status: int | None = None
        retry_after: float | None = None
        rejection: str | None = None
        try:
            response = await self._client.request(
                "POST",
                item.callback,
                data=body,
                headers=self._headers(item, body),
                timeout=self._settings.delivery_timeout,
                max_body=RESPONSE_READ_LIMIT,
                body_on_success=False,
            )
        except OutboundError as exc:
            outcome, error = Outcome.UNREACHABLE, f"{exc.kind}: {exc}"
        else:
            status = response.status
            if item.kind is EventKind.IDENTITY:
                content_type = response.headers.get("Content-Type", "")
                rejection = rejection_code(status, content_type, response.body)
            outcome = classify(status, rejected=rejection is not None)
            error = None if outcome is Outcome.DELIVERED else f"HTTP {status}"
            if rejection is not None:
                error = f"HTTP 400 {rejection}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=started)
        finished = self._clock()
        attempt = Attempt(
            started_at=started,
            duration=finished - started,
            outcome=str(outcome),
            status=status,
            error=error,
        )
        counter = self._attempts_counted.get(outcome)
        if counter is None:
            counter = self._attempts_counted[outcome] = self._metrics.deliveries.labels(
                outcome=str(outcome)
            )
        counter.inc()
        self._metrics.attempt_duration.observe(attempt.duration)
        return attempt, outcome, retry_after, rejection

    def _settle(
        self,
        item: DueDelivery,
        sent: bytes | None,
        attempt: Attempt,
        outcome: Outcome,
        retry_after: float | None,
        rejection: str | None,
    ) -> asyncio.Future[None]:
        """Queue the outcome for the next group commit and return its durability. The caller
        need not wait: its task, and so its share of the dispatcher's capacity, is free for the
        next delivery while the write is under way. `sent` is the SET signed for this attempt,
        kept for retries (and operators) when the delivery is not done."""
        now = attempt.started_at + attempt.duration
        next_attempt_at: float | None = None
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
                rejection,
            )
        else:
            settings = self._settings
            delay = next_retry_delay(
                item.attempts + 1,
                settings.retry_schedule,
                jitter=settings.retry_jitter,
                retry_after=retry_after,
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
        settlement = Settlement(
            item.id,
            item.subscription_id,
            attempt,
            state,
            next_attempt_at=next_attempt_at,
            rejection=rejection,  # set only when the receiver rejected the SET
            body=sent if keep else None,
        )
        future = self._writes.enqueue(settlement)
        self._settling.add(future)
        latency = now - item.event_created_at if state is DeliveryState.DELIVERED else None
        future.add_done_callback(partial(self._settled, item.id, latency))
        return future

    def _settled(self, delivery: int, latency: float | None, future: asyncio.Future[None]) -> None:
        self._settling.discard(future)
        if self.free_slots() == self.refill:
            self.wake()  # claiming waited for the store to catch up
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            # As a failed handle(): the delivery stays claimed and is tried again when the
            # claim expires.
            log.error("recording the outcome of delivery %s failed: %r", delivery, error)
        elif latency is not None:
            self._metrics.delivery_latency.observe(max(0.0, latency))
