"""Verification of intent (WebSub §5.3) and denial notices (§5.2), run after the 202.

Requests are stored as intents before the hub answers, so a restart never forgets one. The state
of a subscription changes only here, and only after the subscriber echoed our single-use challenge.
The store hands out one request per (topic, callback) at a time, in arrival order, and at most
`VERIFICATIONS_PER_HOST` per callback host, so callbacks that never answer cannot hold every slot.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from ..config import Settings
from ..metrics import Metrics
from ..outbound import OutboundClient, OutboundError, RefusedDestination
from ..outbound.loggable import loggable_url
from ..store import Intent, IntentMode, Store
from ..websub import grant_lease, verification_url
from .claim_loop import Worker

__all__ = ["IntentVerifier"]

log = logging.getLogger("sethub.verification")

CHALLENGE_BYTES = 32
# A verification GET that got no HTTP answer at all is tried again after these delays; any HTTP
# answer is final (§5.3.1: only 2xx with the exact challenge verifies).
TRANSPORT_RETRY_DELAYS = (5.0, 30.0, 120.0)
MAX_CHALLENGE_RESPONSE_BYTES = 4096
# Verifications in flight to one callback host (one address, or one IPv6 /64). A host that never
# answers holds this many slots for the verify timeout, never the whole capacity.
VERIFICATIONS_PER_HOST = 2


class IntentVerifier(Worker[Intent]):
    name = "verifier"

    def __init__(
        self,
        store: Store,
        client: OutboundClient,
        settings: Settings,
        metrics: Metrics,
        *,
        owner: str,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(
            capacity=settings.max_concurrent_verifications, poll_interval=settings.poll_interval
        )
        self._store = store
        self._client = client
        self._settings = settings
        self._metrics = metrics
        self._owner = owner
        self._clock = clock

    async def claim(self, limit: int) -> list[Intent]:
        return await self._store.intents.claim_due(
            owner=self._owner,
            now=self._clock(),
            ttl=self._settings.claim_ttl,
            limit=limit,
            per_host=VERIFICATIONS_PER_HOST,
        )

    async def handle(self, item: Intent) -> None:
        if item.mode is IntentMode.DENIED:
            await self._send_denial(item)
        else:
            await self._verify(item)

    async def _get(self, intent: Intent, params: dict[str, str]) -> tuple[int, bytes] | None:
        """GET the callback; None when there was no HTTP answer (the intent is then retried)."""
        url = verification_url(intent.callback, params)
        try:
            response = await self._client.request(
                "GET",
                url,
                timeout=self._settings.verify_timeout,
                max_body=MAX_CHALLENGE_RESPONSE_BYTES,
            )
        except RefusedDestination as exc:
            log.warning("intent %s: callback refused at connect time: %s", intent.id, exc)
            return (0, b"")
        except OutboundError as exc:
            log.info("intent %s: no answer from callback (%s)", intent.id, exc)
            if intent.attempts < len(TRANSPORT_RETRY_DELAYS):
                delay = TRANSPORT_RETRY_DELAYS[intent.attempts]
                await self._store.intents.retry_at(intent.id, at=self._clock() + delay)
                return None
            return (0, b"")
        return response.status, response.body

    async def _still_authorised(self, intent: Intent) -> bool:
        """A request made with a token is verified only while that token is valid, and only if
        the subscription is not (or no longer) another valid token's. Requests are verified one
        at a time per (topic, callback), so nothing changes the owner between this and the end
        of the verification."""
        if intent.token_id is None:
            return True
        token = await self._store.tokens.get(intent.token_id)
        if token is None or token.revoked:
            return False
        existing = await self._store.subscriptions.get(topic=intent.topic, callback=intent.callback)
        if existing is None or existing.token_id in (None, intent.token_id):
            return True
        owner = await self._store.tokens.get(existing.token_id)
        return owner is None or owner.revoked

    async def _verify(self, intent: Intent) -> None:
        settings = self._settings
        if not await self._still_authorised(intent):
            await self._store.intents.finish(intent.id)
            self._metrics.verifications.labels(mode=str(intent.mode), result="refused").inc()
            log.info(
                "intent %s dropped: its token was revoked or does not own the subscription",
                intent.id,
            )
            return
        challenge = secrets.token_urlsafe(CHALLENGE_BYTES)
        params = {
            "hub.mode": str(intent.mode),
            "hub.topic": intent.topic,
            "hub.challenge": challenge,
        }
        lease = grant_lease(
            intent.lease_seconds,
            minimum=settings.lease_min,
            default=settings.lease_default,
            maximum=settings.lease_max,
        )
        if intent.mode is IntentMode.SUBSCRIBE:
            params["hub.lease_seconds"] = str(lease)
        sent_at = self._clock()  # §5.3: the lease is measured from the verification request
        answer = await self._get(intent, params)
        if answer is None:
            return
        status, body = answer
        verified = 200 <= status < 300 and body.strip() == challenge.encode()
        if verified and intent.mode is IntentMode.SUBSCRIBE:
            await self._store.subscriptions.activate(
                topic=intent.topic,
                callback=intent.callback,
                secret=intent.secret,
                lease_seconds=lease,
                now=sent_at,
                audience=intent.audience,
                event_types=intent.event_types,
                token_id=intent.token_id,
                host_key=intent.callback_host or None,
            )
        elif verified:
            await self._store.subscriptions.remove(
                topic=intent.topic, callback=intent.callback, now=self._clock()
            )
        await self._store.intents.finish(intent.id)
        result = "verified" if verified else "refused"
        self._metrics.verifications.labels(mode=str(intent.mode), result=result).inc()
        log.info(
            "%s %s for %s -> %s (status %s)",
            intent.mode,
            result,
            intent.topic,
            loggable_url(intent.callback),
            status or "none",
        )

    async def _send_denial(self, intent: Intent) -> None:
        params = {"hub.mode": "denied", "hub.topic": intent.topic}
        if intent.reason:
            params["hub.reason"] = intent.reason
        answer = await self._get(intent, params)
        if answer is None:
            return
        await self._store.intents.finish(intent.id)
        self._metrics.verifications.labels(mode="denied", result="sent").inc()
