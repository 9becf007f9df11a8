"""Accepting subscription requests (WebSub §5.1): who may ask, limits and policy, then a durable
intent.

Identity topics are private (security review H1): subscribing to or unsubscribing from one takes
a subscriber token (`subscribe` or `subscribe:NAME`), and the SETs' audience is one the token
allows: its listed audiences, or the callback's own origin. With `--subscribe-auth required`
every topic takes a token. A subscription made with a token belongs to that token: another token
cannot renew, replace or end it while the owner is valid. Refusals are answered at once and
nothing is sent to the callback for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from set_tokens import Catalog
from set_tokens.events import EventType, UnknownEventType

from ..config import Settings
from ..errors import CallbackNotAllowed, Forbidden, TooManyRequests, TopicNotAllowed
from ..outbound import DestinationPolicy
from ..store import IntentMode, Store, Token
from ..websub import AUDIENCE_PARAMETER, EVENTS_PARAMETER, InvalidParameter, SubscriptionRequest
from .auth import authenticate, is_admin
from .limits import RateLimiter, callback_key, client_key
from .topic_policy import TopicPolicy, check_callback

__all__ = ["Subscribing", "callback_origin"]

CAP_RETRY_AFTER_SECONDS = 3600
SUBSCRIBE_ACTION = "subscribe"  # the scope's action, for unsubscribing too


def callback_origin(callback: str) -> str:
    """The default SET audience of a subscription: scheme://host[:port] of its callback, without
    userinfo (security review I7), scheme and host lowercased."""
    parts = urlsplit(callback)
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}"


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

    async def request(
        self, request: SubscriptionRequest, *, client: str | None, authorization: str | None
    ) -> None:
        """Store the request for verification; raise a named error if it is refused now.

        A topic refused by policy is answered 403 and, as §5.2 requires, the callback is also sent
        a `hub.mode=denied` notice. Unsubscribing is never refused for the topic's sake: the
        subscription may predate a policy change.
        """
        self._per_client.check(client_key(client))
        token = await self._authorise(request, authorization)
        audience, event_types = self._identity_options(request, token)
        if self._settings.https_only_callbacks and not request.callback.startswith("https://"):
            raise CallbackNotAllowed("this hub delivers only to https:// callbacks")
        await check_callback(request.callback, self._destinations)
        host = await callback_key(request.callback)
        self._per_host.check(host)
        if token is not None:
            await self._check_owner(request, token)
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
        await self._store.intents.add(
            mode=IntentMode(request.mode),
            topic=request.topic,
            callback=request.callback,
            secret=request.secret,
            lease_seconds=request.lease_seconds,
            audience=audience,
            event_types=event_types,
            now=self._clock(),
            token_id=None if token is None else token.id,
            callback_host=host,
        )
        self._wake()

    def _identity_topic(self, topic: str) -> str | None:
        """The name of a hub-owned identity topic, else None."""
        name = self._topics.own_topic(topic)
        return name if name in self._identity_topics else None

    async def _authorise(
        self, request: SubscriptionRequest, authorization: str | None
    ) -> Token | None:
        """The subscriber token, when the topic takes one (401 or 403 otherwise); None for an
        open topic, whatever the request carries."""
        identity = self._identity_topic(request.topic)
        if identity is None and self._settings.subscribe_auth != "required":
            return None
        name = identity or self._topics.own_topic(request.topic)
        return await authenticate(
            self._store, authorization, action=SUBSCRIBE_ACTION, topic=name
        )

    async def _check_owner(self, request: SubscriptionRequest, token: Token) -> None:
        """A subscription made with another token that is still valid is not this one's to
        change (checked again before verification: see IntentVerifier)."""
        existing = await self._store.subscriptions.get(
            topic=request.topic, callback=request.callback
        )
        if existing is None or existing.token_id in (None, token.id):
            return
        owner = await self._store.tokens.get(existing.token_id)
        if owner is not None and not owner.revoked:
            raise Forbidden("this subscription belongs to another token")

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
        self, request: SubscriptionRequest, token: Token | None
    ) -> tuple[str | None, tuple[str, ...] | None]:
        """The SET audience and event-type filter of a subscription to an identity topic."""
        name = self._identity_topic(request.topic)
        if name is None:
            if request.audience is not None or request.events is not None:
                raise InvalidParameter(
                    f"{AUDIENCE_PARAMETER} and {EVENTS_PARAMETER} apply to identity topics only"
                )
            return None, None
        audience = self._audience(request, token)
        if request.events is None:
            return audience, None
        return audience, self._event_filter(request.events, self._identity_topics[name])

    @staticmethod
    def _audience(request: SubscriptionRequest, token: Token | None) -> str:
        """The audience asked for (default: the callback's origin), if the token allows it: the
        callback's origin always (the verification proves the subscriber controls it), else one
        of the token's audiences; an admin token without audiences allows any."""
        origin = callback_origin(request.callback)
        wanted = request.audience or origin
        if wanted == origin or (token is not None and wanted in token.audiences):
            return wanted
        if token is not None and is_admin(token) and not token.audiences:
            return wanted
        raise Forbidden(f"this token may not receive SETs for audience {wanted!r}")

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
