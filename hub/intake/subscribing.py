"""Accepting subscription requests (WebSub §5.1): limits and policy, then a durable intent."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from set_tokens import Catalog, EventType, UnknownEventType

from ..config import Settings
from ..errors import CallbackNotAllowed, TooManyRequests, TopicNotAllowed
from ..outbound import DestinationPolicy
from ..store import IntentMode, Store
from ..websub import AUDIENCE_PARAMETER, EVENTS_PARAMETER, InvalidParameter, SubscriptionRequest
from .limits import RateLimiter, callback_key, client_key
from .topic_policy import TopicPolicy, check_callback

__all__ = ["Subscribing"]

CAP_RETRY_AFTER_SECONDS = 3600


class Subscribing:
    def __init__(
        self,
        store: Store,
        topics: TopicPolicy,
        destinations: DestinationPolicy,
        settings: Settings,
        catalog: Catalog,
        *,
        clock: Callable[[], float],
        wake_verifier: Callable[[], None],
    ) -> None:
        self._catalog = catalog
        self._identity_topics: Mapping[str, list[EventType]] = catalog.topics()
        self._store = store
        self._topics = topics
        self._destinations = destinations
        self._settings = settings
        self._clock = clock
        self._wake = wake_verifier
        self._per_client = RateLimiter(
            rate=settings.subscribe_rate,
            burst=settings.rate_burst,
            what="subscription requests from this address",
        )
        self._per_host = RateLimiter(
            rate=settings.subscribe_rate_per_callback_host,
            burst=settings.rate_burst,
            what="subscription requests for this callback host",
        )

    async def request(self, request: SubscriptionRequest, *, client: str | None) -> None:
        """Store the request for verification; raise a named error if it is refused now.

        A topic refused by policy is answered 403 and, as §5.2 requires, the callback is also sent
        a `hub.mode=denied` notice. Unsubscribing is never refused for the topic's sake: the
        subscription may predate a policy change. Limits and caps key on addresses (see
        `limits`): the callback's host is keyed on the address it resolves to.
        """
        self._per_client.check(client_key(client))
        if self._settings.https_only_callbacks and not request.callback.startswith("https://"):
            raise CallbackNotAllowed("this hub delivers only to https:// callbacks")
        await check_callback(request.callback, self._destinations)
        host = await callback_key(request.callback)
        self._per_host.check(host)
        if request.mode == "subscribe":
            try:
                await self._topics.check(request.topic)
            except TopicNotAllowed as refusal:
                await self._store.intents.add(
                    mode=IntentMode.DENIED,
                    topic=request.topic,
                    callback=request.callback,
                    reason=refusal.message,
                    now=self._clock(),
                    callback_host=host,
                )
                self._wake()
                raise
            await self._check_caps(request, host)
        audience, event_types = self._identity_options(request)
        await self._store.intents.add(
            mode=IntentMode(request.mode),
            topic=request.topic,
            callback=request.callback,
            secret=request.secret,
            lease_seconds=request.lease_seconds,
            audience=audience,
            event_types=event_types,
            now=self._clock(),
            callback_host=host,
        )
        self._wake()

    async def _check_caps(self, request: SubscriptionRequest, host: str) -> None:
        """A new subscription may not push its topic or callback host over their caps."""
        subscriptions, now = self._store.subscriptions, self._clock()
        if await subscriptions.get(topic=request.topic, callback=request.callback) is not None:
            return  # a renewal adds nothing
        settings = self._settings
        if await subscriptions.count_for(now=now, topic=request.topic) >= (
            settings.max_subscriptions_per_topic
        ):
            raise TooManyRequests(
                "this topic has reached its subscription limit", retry_after=CAP_RETRY_AFTER_SECONDS
            )
        if await subscriptions.count_for(now=now, host=host) >= (
            settings.max_subscriptions_per_callback_host
        ):
            raise TooManyRequests(
                "this callback host has reached its subscription limit",
                retry_after=CAP_RETRY_AFTER_SECONDS,
            )

    def _identity_options(
        self, request: SubscriptionRequest
    ) -> tuple[str | None, tuple[str, ...] | None]:
        """The SET audience and event-type filter of a subscription to an identity topic."""
        name = self._topics.own_topic(request.topic)
        entries = self._identity_topics.get(name or "")
        if entries is None:
            if request.audience is not None or request.events is not None:
                raise InvalidParameter(
                    f"{AUDIENCE_PARAMETER} and {EVENTS_PARAMETER} apply to identity topics only"
                )
            return None, None
        if request.events is None:
            return request.audience, None
        return request.audience, self._event_filter(request.events, entries)

    def _event_filter(self, names: Sequence[str], entries: list[EventType]) -> tuple[str, ...]:
        offered = {entry.uri for entry in entries}
        uris: list[str] = []
        for name in names:
            try:
                uri = self._catalog.lookup(name).uri
            except UnknownEventType as exc:
                raise InvalidParameter(f"{EVENTS_PARAMETER}: unknown event type {name!r}") from exc
            if uri not in offered:
                raise InvalidParameter(
                    f"{EVENTS_PARAMETER}: {name!r} is not published on this topic"
                )
            uris.append(uri)
        return tuple(dict.fromkeys(uris))
