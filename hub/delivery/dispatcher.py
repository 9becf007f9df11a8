"""Content distribution (WebSub §7): claim due deliveries, POST them, settle each attempt.

Outcomes: 2xx delivered; 410 Gone ends the subscription; anything else, and no answer at all, is
retried on the schedule (Retry-After honoured up to a cap); once the budget is spent the delivery is
dead-lettered and the subscription stays active (§7: later updates are still tried).

Every attempt that fails, however it fails (no answer, an answer the client cannot parse, an
exception anywhere on the way), is recorded as a failed attempt against the retry budget: nothing
waits for a claim to expire to be tried again. A delivery is sent only under the lease that
claimed it, once `start_attempts` has confirmed, just before the POST, that the lease still holds
and the subscription is still the same active one; its outcome lands only under that lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from prometheus_client import Counter

from ..batching import Batcher
from ..config import Settings
from ..metrics import Metrics
from ..outbound import OutboundClient, OutboundError
from ..outbound.loggable import loggable_url
from ..store import Attempt, DeliveryState, DueDelivery, EventKind, Lease, Settlement, Store
from ..websub import link_header, signature_header
from .claim_loop import Worker
from .outcomes import Outcome, Verdict, classify, judge, readable, rejection_code
from .settlements import bare, settlement_for

__all__ = ["Dispatcher", "Outcome", "Renderer", "classify", "rejection_code"]

log = logging.getLogger("sethub.dispatch")

RESPONSE_READ_LIMIT = 4096  # §7: the response body is ignored; read a little for the logs
# Deliveries claimed, as a multiple of the concurrency caps (global and per subscription): the
# next ones are signed and recorded while the current ones are on the wire, so the caps are spent
# on requests. The caps themselves bound requests, and a subscription never holds more than
# max_concurrent_deliveries claims, so a slow one cannot starve the others. A delivery waiting
# in memory may outlive its claim's expiry: its holder never claims it again (`_held`), and its
# lease is renewed when its attempt starts.
CLAIM_AHEAD = 4
FIXED_HEADERS_CACHE_SIZE = 4096  # (topic, content type, kind) triples


# Renders an identity event into the subscription's own body (a signed SET).
Renderer = Callable[[DueDelivery], Awaitable[bytes]]
# What an attempt did: the SET rendered for it (None if the delivery had one), its record, and
# what the answer means.
Tried = tuple[bytes | None, Attempt, Verdict]


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
        # `refill_at`: a claim per few deliveries, not one per finished delivery. (On a shared
        # store, one node at a time holds a subscription's claims, so the cap, which this node
        # enforces on its requests, holds for the whole hub: see `..store.postgres.claims`.)
        self._window = min(cap * CLAIM_AHEAD, settings.max_concurrent_deliveries)
        self._refill_at = self._window // 2
        self._saturated = False  # the last full claim found nothing outside busy subscriptions
        self._full_claim_wanted = True  # a subscription can be topped up, or slots came free
        self._last_full_claim = float("-inf")  # on the event loop's clock, as the poll is
        self._newest_id = 0  # deliveries stored after this one are new work
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
        self._ended: set[int] = set()  # answered 410, not yet removed: nothing more is sent
        self._held: set[int] = set()  # claimed, outcome not yet written: never claimed again
        # Attempt starts, and the settlements of all in-flight deliveries, share group commits.
        self._starts: Batcher[tuple[int, Lease], bool] = Batcher(self._start_batch)
        self._writes: Batcher[Settlement, bool] = Batcher(store.deliveries.record_many)
        self._settling: set[asyncio.Future[bool | None]] = set()  # awaited by stop()
        self._fixed_headers: dict[tuple[str, str, EventKind], dict[str, str]] = {}
        self._attempts_counted: dict[Outcome, Counter] = {}  # labels() is not free per delivery

    def work_stored(self) -> None:
        """New deliveries were stored: claim them now. While the last full claim found nothing
        beyond the busy subscriptions (whose backlogs head the due queue), this claim reads only
        the deliveries stored since the last claim, so it costs what is new, not the backlog."""
        self.wake()

    def _top_up(self) -> None:
        self._full_claim_wanted = True
        self.wake()

    async def claim(self, limit: int) -> list[DueDelivery]:
        held = dict(self._per_subscription)
        busy = [sid for sid, count in held.items() if count > self._refill_at]
        loop_now = asyncio.get_running_loop().time()
        full = (
            not self._saturated
            or self._full_claim_wanted
            or loop_now - self._last_full_claim >= self.poll_interval
        )
        self._full_claim_wanted = False
        now = self._clock()
        claimed = await self._store.deliveries.claim_due(
            owner=self._owner,
            now=now,
            ttl=self._settings.claim_ttl,
            limit=limit,
            per_subscription=self._window,
            held=held,
            busy_subscriptions=busy,
            exclude=self._held,
            newer_than=None if full else self._newest_id,
        )
        self._newest_id = max(self._newest_id, claimed.newest_id)
        if full:
            self._last_full_claim = loop_now
            self._saturated = bool(busy) and not claimed.deliveries
        # Counted at claim time, not when the task starts, so the next claim already sees them.
        cap = self._settings.max_concurrent_per_subscription
        for item in claimed.deliveries:
            sid = item.subscription_id
            self._held.add(item.id)
            self._per_subscription[sid] = self._per_subscription.get(sid, 0) + 1
            if sid not in self._gates:
                self._gates[sid] = asyncio.Semaphore(cap)
        return claimed.deliveries

    async def handle(self, item: DueDelivery) -> None:
        """Render if this is the first attempt, send under the subscription's concurrency cap,
        then queue the outcome for the next group commit. The cap bounds requests to the
        subscriber, so it is released before the write; the delivery stays claimed (and held
        here) until that write lands, so nothing is sent twice meanwhile.

        A delivery claimed ahead is not sent once its subscription has ended: answered 410
        here, or found over when its attempt starts.
        """
        sid = item.subscription_id
        try:
            tried = await self._try(item)
        except Exception as exc:  # anything at all: a failed attempt, counted
            broken = self._broken(item, exc)
            tried = None, broken, Verdict(Outcome.FAILED, broken.error)
        finally:
            remaining = self._per_subscription[sid] - 1
            if remaining == self._refill_at:
                self._top_up()  # this subscription can be topped up
            if remaining:
                self._per_subscription[sid] = remaining
            else:
                del self._per_subscription[sid]
                del self._gates[sid]
        if tried is None:  # not sent: claimed again elsewhere, or cancelled
            self._held.discard(item.id)
            return
        sent, attempt, verdict = tried
        settled = self._settle(item, sent, attempt, verdict)
        if verdict.outcome is Outcome.GONE:
            # Nothing more is sent to it until it is removed, even what is claimed meanwhile
            # (its next deliveries may be claimed as soon as this one is done).
            try:
                await settled
                now = attempt.started_at + attempt.duration
                await self._store.subscriptions.remove_by_id(sid, now=now)
            finally:
                self._ended.discard(sid)
            log.info("subscription %s ended by 410 from %s", sid, loggable_url(item.callback))

    async def failed(self, item: DueDelivery, exc: Exception) -> None:
        """`handle` raised after its attempt (a bug): still a failed attempt, counted now. (If
        the attempt's own outcome was written, this one does not land: the claim is over.)"""
        broken = self._broken(item, exc)
        try:
            self._settle(item, None, broken, Verdict(Outcome.FAILED, broken.error))
        except Exception:
            self._held.discard(item.id)  # left to its claim's expiry: nothing else can be done
            raise

    def free_slots(self) -> int:
        """Outcomes not yet written count too, beyond the tasks: if the store falls behind the
        wire, claiming stops until it catches up."""
        return min(super().free_slots(), self.capacity - len(self._settling))

    async def stop(self, timeout: float) -> None:
        """Stop claiming and sending, then wait for the outcomes already queued to be written."""
        await super().stop(timeout)
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=timeout)
        await self._starts.close(timeout=0)
        await self._writes.close(timeout=0)

    async def _try(self, item: DueDelivery) -> Tried | None:
        sid = item.subscription_id
        body = item.body
        rendered_now = not item.rendered
        if rendered_now:
            body = await self._render(item)
        async with self._gates[sid]:
            if sid in self._ended:
                return None
            async with self._requests:
                if not await self._starts.submit((item.id, item.lease)):
                    return None
                attempt, verdict = await self._attempt(item, body)
        if verdict.outcome is Outcome.GONE:
            self._ended.add(sid)
        return (body if rendered_now else None), attempt, verdict

    async def _start_batch(self, starts: list[tuple[int, Lease]]) -> list[bool]:
        return await self._store.deliveries.start_attempts(
            starts, now=self._clock(), ttl=self._settings.claim_ttl
        )

    def _broken(self, item: DueDelivery, exc: Exception) -> Attempt:
        """The record of an attempt that failed on our side before it had an answer."""
        log.warning(
            "delivery %s failed on the hub's side (%s): counted as a failed attempt",
            item.id,
            type(exc).__name__,
            exc_info=exc,
        )
        now = self._clock()
        error = readable(f"internal error: {type(exc).__name__}")
        return Attempt(started_at=now, duration=0.0, outcome=str(Outcome.FAILED), error=error)

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

    async def _attempt(self, item: DueDelivery, body: bytes) -> tuple[Attempt, Verdict]:
        started = self._clock()
        status: int | None = None
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
            verdict = Verdict(Outcome.UNREACHABLE, readable(f"{exc.kind}: {exc}"))
        except Exception as exc:  # an answer the client could not read is no answer
            verdict = Verdict(Outcome.UNREACHABLE, f"protocol: {type(exc).__name__}")
        else:
            status = response.status
            try:
                verdict = judge(
                    status,
                    response.headers,
                    response.body,
                    identity=item.kind is EventKind.IDENTITY,
                    now=started,
                )
            except Exception as exc:  # judge() is meant not to raise; if it does, a failure
                verdict = Verdict(Outcome.FAILED, f"HTTP {status}: {type(exc).__name__}")
        finished = self._clock()
        attempt = Attempt(
            started_at=started,
            duration=finished - started,
            outcome=str(verdict.outcome),
            status=status,
            error=verdict.error,
        )
        counter = self._attempts_counted.get(verdict.outcome)
        if counter is None:
            counter = self._attempts_counted[verdict.outcome] = self._metrics.deliveries.labels(
                outcome=str(verdict.outcome)
            )
        counter.inc()
        self._metrics.attempt_duration.observe(attempt.duration)
        return attempt, verdict

    def _settle(
        self, item: DueDelivery, sent: bytes | None, attempt: Attempt, verdict: Verdict
    ) -> asyncio.Future[bool | None]:
        """Queue the outcome for the next group commit and return its durability. The caller
        need not wait: its task, and so its share of the dispatcher's capacity, is free for the
        next delivery while the write is under way."""
        settlement = settlement_for(item, sent, attempt, verdict, self._settings)
        delivered = settlement.state is DeliveryState.DELIVERED
        latency = attempt.started_at + attempt.duration - item.event_created_at
        return self._write(settlement, latency if delivered else None)

    def _write(
        self, settlement: Settlement, latency: float | None, *, first: bool = True
    ) -> asyncio.Future[bool | None]:
        future = self._writes.enqueue(settlement)
        self._settling.add(future)
        future.add_done_callback(partial(self._settled, settlement, latency, first))
        return future

    def _settled(
        self,
        settlement: Settlement,
        latency: float | None,
        first: bool,
        future: asyncio.Future[bool | None],
    ) -> None:
        self._settling.discard(future)
        if self.free_slots() == self.refill:
            self._top_up()  # claiming waited for the store to catch up
        delivery = settlement.delivery_id
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log.error(
                "recording the outcome of delivery %s failed: %s", delivery, type(error).__name__
            )
            if first and not self._writes.closed:
                # It failed alone (a failed group commit is retried item by item): record the
                # outcome without what came from the subscriber, so that it still counts.
                self._write(bare(settlement), latency, first=False)
                return
        self._held.discard(delivery)
        if error is not None or future.cancelled():
            return  # the store cannot write: the claim expires, the delivery is tried again
        if not future.result():
            log.info("outcome of delivery %s not recorded: its claim had ended", delivery)
        elif latency is not None:
            self._metrics.delivery_latency.observe(max(0.0, latency))
