"""A WebSub subscriber for receivers of SETs: discover, subscribe, verify, renew, unsubscribe.

Mount it on an aiohttp app at the callback path. It answers a hub's verification request only for
a (topic, mode) it asked for, checks `X-Hub-Signature` with the topic's secret, verifies SETs with
a `Verifier` and hands each to the application. Leases are renewed before they end.

A verification request is a GET anyone can send. So each `hub.*` parameter must appear exactly
once (a hub appends its own after the callback's query, so a callback URL that already carries
`hub.mode=...` must not be read as the hub's word), and `hub.mode=denied`, which carries no
challenge to prove it comes from the hub, changes nothing: a subscription the hub really denied
fails when `subscribe()` times out. A failed renewal is logged and tried again, with a backoff,
until it succeeds or the subscription is closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import MultiMapping

from ._bodies import read_body
from ._receive import SET_MEDIA_TYPE, rejection_response, unavailable_response
from ._verify import VerifiedSet, Verifier
from .errors import ReplayedToken, SetError, Unavailable

__all__ = [
    "DiscoveryError",
    "SubscriptionFailed",
    "TopicSubscription",
    "WebSubSubscriber",
    "discover",
    "signature_valid",
]

log = logging.getLogger("set_tokens.subscriber")

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')
SIGNATURE_METHODS = ("sha1", "sha256", "sha384", "sha512")
RENEW_AT_FRACTION = 0.8  # renew once 80% of the granted lease has passed
MIN_RENEW_DELAY = 1.0
RENEW_RETRY_FIRST = 5.0  # seconds before the first retry of a failed renewal; doubles each time
RENEW_RETRY_MAX = 300.0
DEFAULT_VERIFY_TIMEOUT = 10.0  # how long a renewal waits for the hub's verification request
SECRET_BYTES = 32
MAX_DELIVERY_BYTES = 1024 * 1024
VERIFIED_PARAMETERS = ("hub.mode", "hub.topic", "hub.challenge", "hub.lease_seconds")
LEASE = re.compile(r"[0-9]{1,10}")  # str.isdigit() also takes "²", which int() refuses


class SubscriptionFailed(Exception):
    """The hub refused the request (`status` is its HTTP status), or never verified it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DiscoveryError(SubscriptionFailed):
    """The topic URL did not advertise a hub and a self URL, so no subscription could be asked
    for. `status` is the topic URL's HTTP status when it answered (404: no such topic), None when
    it could not be reached."""


async def discover(session: aiohttp.ClientSession, topic_url: str) -> tuple[str, str]:
    """(hub URL, self URL) from the topic's Link headers: HEAD first, then GET (WebSub §4)."""
    status = None
    for method in ("HEAD", "GET"):
        try:
            async with session.request(method, topic_url, allow_redirects=True) as response:
                status = response.status
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
    if status == 404:
        raise DiscoveryError(f"no such topic: {topic_url} answered 404", status=status)
    if status is not None and status >= 400:
        raise DiscoveryError(f"{topic_url} answered {status}", status=status)
    raise DiscoveryError(
        f"{topic_url} advertises no rel=hub and rel=self Link headers", status=status
    )


class _Repeated(Exception):
    """A query parameter that must appear once appeared several times."""


def _one(query: MultiMapping[str], name: str) -> str:
    """The single value of `name` ('' when absent); `_Repeated` when it appears more than once."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise _Repeated(name)
    return values[0] if values else ""


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
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request to the hub
    granted_lease: int | None = None  # hub.lease_seconds of the last verified subscribe
    renewal_failures: int = 0  # failed renewals in a row
    last_error: str | None = None  # why the last renewal failed


Handler = Callable[[VerifiedSet], Awaitable[None]]
RawHandler = Callable[[str, str, bytes], Awaitable[None]]  # topic, content type, body
RejectionHandler = Callable[[SetError | Unavailable], None]  # a SET refused, or not decided now
Sleep = Callable[[float], Awaitable[None]]


def _report_crash(task: asyncio.Task[None]) -> None:
    """A renewal loop ends only when cancelled; anything else is a bug, and said so at once."""
    if not task.cancelled() and task.exception() is not None:
        log.error("lease renewal stopped", exc_info=task.exception())


class WebSubSubscriber:
    def __init__(
        self,
        *,
        callback_url: str,
        session: aiohttp.ClientSession,
        verifier: Verifier | None = None,
        on_event: Handler | None = None,
        on_content: RawHandler | None = None,
        on_rejection: RejectionHandler | None = None,
        verify_timeout: float = DEFAULT_VERIFY_TIMEOUT,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.callback_url = callback_url
        self._session = session
        self._verifier = verifier
        self._on_event = on_event
        self._on_content = on_content
        self._on_rejection = on_rejection
        self._verify_timeout = verify_timeout
        self._sleep = sleep  # the renewal timer; tests pass one they control
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
        timeout: float = DEFAULT_VERIFY_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        hub: str | None = None,
    ) -> TopicSubscription:
        """Discover the hub, ask for a subscription with a fresh secret, wait for verification.
        `headers` go with this and every later request for the topic (e.g. Authorization);
        `hub` is a hub URL to use instead of the one the topic advertises."""
        advertised, self_url = await discover(self._session, topic_url)
        subscription = TopicSubscription(
            topic=self_url,
            hub=hub or advertised,
            secret=secret if secret is not None else secrets.token_urlsafe(SECRET_BYTES).encode(),
            extra=dict(extra or {}),
            lease_seconds=lease_seconds,
            headers=dict(headers or {}),
        )
        previous = self.subscriptions.get(self_url)
        if previous is not None:
            await self._cancel_renewal(previous)
        self.subscriptions[self_url] = subscription
        try:
            await self._request_verified(subscription, "subscribe", timeout)
        except BaseException:
            if self.subscriptions.get(self_url) is subscription:
                del self.subscriptions[self_url]
            raise
        return subscription

    async def _request_verified(
        self, subscription: TopicSubscription, mode: str, timeout: float
    ) -> None:
        """Ask the hub, then wait for its verification request (the pending mode goes either
        way: a late verification of a request given up on is not answered)."""
        await self._request(subscription, mode)
        try:
            await asyncio.wait_for(subscription.verified.wait(), timeout)
        except TimeoutError as exc:
            message = f"the hub did not verify {mode} {subscription.topic} in {timeout}s"
            raise SubscriptionFailed(message) from exc
        finally:
            subscription.pending_modes.discard(mode)

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
        try:
            async with self._session.post(
                subscription.hub, data=form, headers=subscription.headers
            ) as response:
                if response.status != 202:
                    text = (await response.text()).strip()
                    raise SubscriptionFailed(
                        f"{mode} refused by the hub: {response.status} {text}",
                        status=response.status,
                    )
        except BaseException:
            subscription.pending_modes.discard(mode)
            raise

    async def unsubscribe(self, topic_url: str, *, timeout: float = 10.0) -> None:
        subscription = self.subscriptions.get(topic_url)
        if subscription is None:
            raise SubscriptionFailed(f"not subscribed to {topic_url}")
        await self._cancel_renewal(subscription)
        subscription.verified.clear()
        try:
            await self._request_verified(subscription, "unsubscribe", timeout)
        finally:
            self.subscriptions.pop(topic_url, None)

    async def handle_verification(self, request: web.Request) -> web.Response:
        try:
            mode, topic, challenge, lease = (_one(request.query, p) for p in VERIFIED_PARAMETERS)
        except _Repeated as repeated:
            return web.Response(status=400, text=f"{repeated} appears more than once\n")
        if mode == "denied":
            return web.Response(text="")  # unauthenticated: see the module docstring
        subscription = self.subscriptions.get(topic)
        if subscription is None or mode not in subscription.pending_modes:
            return web.Response(status=404, text="not expecting this verification\n")
        if not challenge:
            return web.Response(status=400, text="hub.challenge missing\n")
        subscription.pending_modes.discard(mode)
        if mode == "subscribe" and LEASE.fullmatch(lease):
            subscription.granted_lease = int(lease)
            if subscription.renewal is None or subscription.renewal.done():
                subscription.renewal = asyncio.create_task(self._keep_renewed(subscription))
                subscription.renewal.add_done_callback(_report_crash)
        subscription.verified.set()
        return web.Response(text=challenge, content_type="text/plain")

    async def _keep_renewed(self, subscription: TopicSubscription) -> None:
        """Renew at 80% of each granted lease; a failed renewal is logged and retried with a
        doubling delay (the hub may be restarting) until it is verified."""
        while subscription.granted_lease:
            await self._sleep(max(MIN_RENEW_DELAY, subscription.granted_lease * RENEW_AT_FRACTION))
            retry_in = RENEW_RETRY_FIRST
            while True:
                try:
                    await self._request_verified(subscription, "subscribe", self._verify_timeout)
                    subscription.renewal_failures, subscription.last_error = 0, None
                    break
                except (SubscriptionFailed, aiohttp.ClientError, OSError) as exc:
                    subscription.renewal_failures += 1
                    subscription.last_error = str(exc) or type(exc).__name__
                    log.warning(
                        "renewing the subscription to %s failed (%s in a row): %s; "
                        "trying again in %.0f s",
                        subscription.topic,
                        subscription.renewal_failures,
                        subscription.last_error,
                        retry_in,
                    )
                await self._sleep(retry_in)
                retry_in = min(RENEW_RETRY_MAX, retry_in * 2)

    async def _cancel_renewal(self, subscription: TopicSubscription) -> None:
        task, subscription.renewal = subscription.renewal, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])  # a crash was logged by _report_crash

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
                self._rejected(error)
                return rejection_response(error)
            except Unavailable as error:
                self._rejected(error)
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

    def _rejected(self, error: SetError | Unavailable) -> None:
        if self._on_rejection is not None:
            self._on_rejection(error)

    async def close(self) -> None:
        for subscription in list(self.subscriptions.values()):
            await self._cancel_renewal(subscription)
