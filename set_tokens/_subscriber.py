"""A WebSub subscriber for receivers of SETs: discover, subscribe, verify, renew, unsubscribe.

Mount it on an aiohttp app at the callback path. It answers a hub's verification request only for
a (topic, mode) it asked for, checks `X-Hub-Signature` with the topic's secret, verifies SETs with
a `Verifier` and hands each to the application. Leases are renewed before they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from ._bodies import read_body
from ._errors import ReplayedToken, SetError, Unavailable
from ._receive import SET_MEDIA_TYPE, rejection_response, unavailable_response
from ._verify import VerifiedSet, Verifier

__all__ = [
    "DiscoveryError",
    "SubscriptionFailed",
    "TopicSubscription",
    "WebSubSubscriber",
    "discover",
]

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')
SIGNATURE_METHODS = ("sha1", "sha256", "sha384", "sha512")
RENEW_AT_FRACTION = 0.8  # renew once 80% of the granted lease has passed
SECRET_BYTES = 32
MAX_DELIVERY_BYTES = 1024 * 1024


class DiscoveryError(Exception):
    """The topic URL did not advertise a hub and a self URL."""


class SubscriptionFailed(Exception):
    """The hub refused the request, or never verified it."""


async def discover(session: aiohttp.ClientSession, topic_url: str) -> tuple[str, str]:
    """(hub URL, self URL) from the topic's Link headers: HEAD first, then GET (WebSub §4)."""
    for method in ("HEAD", "GET"):
        try:
            async with session.request(method, topic_url, allow_redirects=True) as response:
                links = [
                    (url, rel)
                    for header in response.headers.getall("Link", [])
                    for url, rel in _LINK.findall(header)
                ]
        except aiohttp.ClientError as exc:
            raise DiscoveryError(f"cannot reach {topic_url}: {exc}") from exc
        hubs = [url for url, rel in links if rel == "hub"]
        selves = [url for url, rel in links if rel == "self"]
        if hubs and selves:
            return hubs[0], selves[0]
    raise DiscoveryError(f"{topic_url} advertises no rel=hub and rel=self Link headers")


def signature_valid(header: str | None, secret: bytes, body: bytes) -> bool:
    """Whether `X-Hub-Signature: method=hex` is the HMAC of `body` (WebSub §7.1, any of its
    four methods), compared in constant time."""
    method, _, digest = (header or "").partition("=")
    if method not in SIGNATURE_METHODS:
        return False
    expected = hmac.new(secret, body, getattr(hashlib, method)).hexdigest()
    return hmac.compare_digest(expected, digest.lower())


@dataclass
class TopicSubscription:
    topic: str
    hub: str
    secret: bytes | None
    extra: dict[str, str] = field(default_factory=dict)
    lease_seconds: int | None = None
    verified: asyncio.Event = field(default_factory=asyncio.Event)
    pending_modes: set[str] = field(default_factory=set)
    renewal: asyncio.Task[None] | None = None


Handler = Callable[[VerifiedSet], Awaitable[None]]
RawHandler = Callable[[str, str, bytes], Awaitable[None]]  # topic, content type, body


class WebSubSubscriber:
    def __init__(
        self,
        *,
        callback_url: str,
        session: aiohttp.ClientSession,
        verifier: Verifier | None = None,
        on_event: Handler | None = None,
        on_content: RawHandler | None = None,
    ) -> None:
        self.callback_url = callback_url
        self._session = session
        self._verifier = verifier
        self._on_event = on_event
        self._on_content = on_content
        self.subscriptions: dict[str, TopicSubscription] = {}

    def attach(self, app: web.Application, path: str) -> None:
        app.router.add_get(path, self.handle_verification)
        app.router.add_post(path, self.handle_delivery)

    async def subscribe(
        self,
        topic_url: str,
        *,
        lease_seconds: int | None = None,
        secret: bytes | None = None,
        extra: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> TopicSubscription:
        """Discover the hub, ask for a subscription with a fresh secret, wait for verification."""
        hub, self_url = await discover(self._session, topic_url)
        subscription = TopicSubscription(
            topic=self_url,
            hub=hub,
            secret=secret if secret is not None else secrets.token_urlsafe(SECRET_BYTES).encode(),
            extra=dict(extra or {}),
            lease_seconds=lease_seconds,
        )
        self.subscriptions[self_url] = subscription
        await self._request(subscription, "subscribe")
        try:
            await asyncio.wait_for(subscription.verified.wait(), timeout)
        except TimeoutError as exc:
            raise SubscriptionFailed(f"the hub did not verify {self_url} in {timeout}s") from exc
        return subscription

    async def _request(self, subscription: TopicSubscription, mode: str) -> None:
        form = {
            "hub.mode": mode,
            "hub.topic": subscription.topic,
            "hub.callback": self.callback_url,
        }
        if mode == "subscribe":
            subscription.verified.clear()
            if subscription.secret:
                form["hub.secret"] = subscription.secret.decode()
            if subscription.lease_seconds:
                form["hub.lease_seconds"] = str(subscription.lease_seconds)
            form.update(subscription.extra)
        subscription.pending_modes.add(mode)
        async with self._session.post(subscription.hub, data=form) as response:
            if response.status != 202:
                subscription.pending_modes.discard(mode)
                text = (await response.text()).strip()
                raise SubscriptionFailed(f"{mode} refused by the hub: {response.status} {text}")

    async def unsubscribe(self, topic_url: str, *, timeout: float = 10.0) -> None:
        subscription = self.subscriptions.get(topic_url)
        if subscription is None:
            raise SubscriptionFailed(f"not subscribed to {topic_url}")
        await self._cancel_renewal(subscription)
        subscription.verified.clear()
        await self._request(subscription, "unsubscribe")
        try:
            await asyncio.wait_for(subscription.verified.wait(), timeout)
        finally:
            self.subscriptions.pop(topic_url, None)

    async def handle_verification(self, request: web.Request) -> web.Response:
        query = request.query
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        subscription = self.subscriptions.get(topic)
        if mode == "denied":
            if subscription is not None:
                subscription.pending_modes.clear()
            return web.Response(text="")
        if subscription is None or mode not in subscription.pending_modes:
            return web.Response(status=404, text="not expecting this verification\n")
        challenge = query.get("hub.challenge")
        if not challenge:
            return web.Response(status=400, text="hub.challenge missing\n")
        subscription.pending_modes.discard(mode)
        if mode == "subscribe":
            lease = query.get("hub.lease_seconds", "")
            if lease.isdigit():
                self._schedule_renewal(subscription, int(lease))
        subscription.verified.set()
        return web.Response(text=challenge, content_type="text/plain")

    def _schedule_renewal(self, subscription: TopicSubscription, lease: int) -> None:
        if subscription.renewal is not None and not subscription.renewal.done():
            subscription.renewal.cancel()

        async def renew() -> None:
            await asyncio.sleep(max(1.0, lease * RENEW_AT_FRACTION))
            await self._request(subscription, "subscribe")

        subscription.renewal = asyncio.create_task(renew())

    async def _cancel_renewal(self, subscription: TopicSubscription) -> None:
        task, subscription.renewal = subscription.renewal, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _topic_of(self, request: web.Request) -> TopicSubscription | None:
        for header in request.headers.getall("Link", []):
            for url, rel in _LINK.findall(header):
                if rel == "self" and url in self.subscriptions:
                    return self.subscriptions[url]
        return None

    async def handle_delivery(self, request: web.Request) -> web.Response:
        subscription = self._topic_of(request)
        if subscription is None:
            return web.Response(status=410, text="not subscribed\n")  # §7: ends the subscription
        body = await read_body(request.content, MAX_DELIVERY_BYTES)
        if body is None:
            return web.Response(status=413)
        if subscription.secret and not signature_valid(
            request.headers.get("X-Hub-Signature"), subscription.secret, body
        ):
            return web.Response(status=403, text="bad X-Hub-Signature\n")
        if request.content_type == SET_MEDIA_TYPE and self._verifier is not None:
            try:
                verified = await self._verifier.verify(body.decode("ascii", "replace").strip())
                self._verifier.accept(verified)
            except ReplayedToken:
                return web.Response(status=202)
            except SetError as error:
                return rejection_response(error)
            except Unavailable as error:
                return unavailable_response(error)
            if self._on_event is not None:
                try:
                    await self._on_event(verified)
                except BaseException:
                    self._verifier.forget(verified)
                    raise
        elif self._on_content is not None:
            await self._on_content(subscription.topic, request.content_type, body)
        return web.Response(status=202)

    async def close(self) -> None:
        for subscription in list(self.subscriptions.values()):
            await self._cancel_renewal(subscription)
