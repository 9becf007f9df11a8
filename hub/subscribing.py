"""Accepting subscription requests (WebSub §5.1): policy checks, then a durable intent."""

from __future__ import annotations

from collections.abc import Callable

from .errors import TopicNotAllowed
from .outbound import DestinationPolicy
from .policy import TopicPolicy, check_callback
from .store import IntentMode, Store
from .websub import SubscriptionRequest

__all__ = ["Subscribing"]


class Subscribing:
    def __init__(
        self,
        store: Store,
        topics: TopicPolicy,
        destinations: DestinationPolicy,
        *,
        clock: Callable[[], float],
        wake_verifier: Callable[[], None],
    ) -> None:
        self._store = store
        self._topics = topics
        self._destinations = destinations
        self._clock = clock
        self._wake = wake_verifier

    async def request(self, request: SubscriptionRequest) -> None:
        """Store the request for verification; raise a named error if it is refused now.

        A topic refused by policy is answered 403 and, as §5.2 requires, the callback is also sent
        a `hub.mode=denied` notice. Unsubscribing is never refused for the topic's sake: the
        subscription may predate a policy change.
        """
        await check_callback(request.callback, self._destinations)
        if request.mode is IntentMode.SUBSCRIBE:
            try:
                await self._topics.check(request.topic)
            except TopicNotAllowed as refusal:
                await self._store.intents.add(
                    mode=IntentMode.DENIED,
                    topic=request.topic,
                    callback=request.callback,
                    reason=refusal.message,
                    now=self._clock(),
                )
                self._wake()
                raise
        await self._store.intents.add(
            mode=request.mode,
            topic=request.topic,
            callback=request.callback,
            secret=request.secret,
            lease_seconds=request.lease_seconds,
            now=self._clock(),
        )
        self._wake()
