"""WebSub hub checks: websub.rocks tests 100-106 made automatic, and the Recommendation's items.

References: "rocks-N" is websub.rocks hub test N; "§x.y" is a section of the W3C Recommendation
(REC-websub-20180123); "item N" numbers the requirement list in the sethub spec notes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time

from .harness import Callback, Delivery, Topic, eventually
from .runner import CheckFailed, Context, Skipped, check

LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


def links(delivery: Delivery) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for header in delivery.links:
        found += [(url, rel) for url, rel in LINK.findall(header)]
    return found


def signature_valid(header: str, secret: bytes, body: bytes) -> bool:
    method, _, digest = header.partition("=")
    if method not in ("sha1", "sha256", "sha384", "sha512"):
        return False
    expected = hmac.new(secret, body, getattr(hashlib, method)).hexdigest()
    return hmac.compare_digest(expected, digest.lower())


def check_notification(
    ctx: Context, topic: Topic, delivery: Delivery, secret: bytes | None
) -> None:
    """websub.rocks' notification checks 2-7, in its order."""
    if not delivery.body:
        raise CheckFailed("the notification body is empty (a fat ping is required)")
    if delivery.body.strip() != topic.content.strip():
        raise CheckFailed("the notification body is not the topic's content")
    if delivery.headers.get("Content-Type") != topic.content_type:
        got = delivery.headers.get("Content-Type")
        raise CheckFailed(f"Content-Type {got!r} is not the topic's {topic.content_type!r}")
    rels = links(delivery)
    hubs = [url for url, rel in rels if rel == "hub"]
    if ctx.hub not in hubs:
        raise CheckFailed(f"no Link rel=hub equal to {ctx.hub} (got {hubs})")
    if not [url for url, rel in rels if rel == "self"]:
        raise CheckFailed("no Link rel=self")
    signature = delivery.headers.get("X-Hub-Signature")
    if secret is None and signature is not None:
        raise CheckFailed("X-Hub-Signature sent for a subscription without a secret")
    if secret is not None:
        if signature is None:
            raise CheckFailed("no X-Hub-Signature for a subscription with a secret")
        if not signature_valid(signature, secret, delivery.body):
            raise CheckFailed(f"X-Hub-Signature {signature[:20]}... does not verify")


async def _typical(ctx: Context, **extra: str) -> tuple[Topic, Callback]:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback, **extra)
    verification = callback.verifications[0]
    if verification.get("hub.topic") != topic.url:
        raise CheckFailed(f"verification hub.topic {verification.get('hub.topic')!r} != topic")
    if not verification.get("hub.challenge"):
        raise CheckFailed("verification request without hub.challenge")
    if not verification.get("hub.lease_seconds"):
        raise CheckFailed("subscribe verification without hub.lease_seconds (§5.3)")
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    return topic, callback


@check("rocks-100", "websub.rocks 100, §5.1", "typical subscription and unsigned notification")
async def rocks_100(ctx: Context) -> None:
    topic, callback = await _typical(ctx)
    check_notification(ctx, topic, callback.deliveries[0], None)


@check("rocks-101", "websub.rocks 101, §7.1", "subscription with a secret: signed notification")
async def rocks_101(ctx: Context) -> None:
    secret = "A1b2C3d4E5f6G7h8I9j0"  # noqa: S105 (websub.rocks sends 20 characters)
    topic, callback = await _typical(ctx, **{"hub.secret": secret})
    check_notification(ctx, topic, callback.deliveries[0], secret.encode())


@check("rocks-102", "websub.rocks 102, §5.1", "unknown parameters are ignored")
async def rocks_102(ctx: Context) -> None:
    topic, callback = await _typical(ctx, foo="bar", **{"hub.foo": "hub.bar"})
    check_notification(ctx, topic, callback.deliveries[0], None)


@check("rocks-103", "websub.rocks 103, §5.1", "re-subscription: exactly one notification")
async def rocks_103(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback)
    status, _ = await ctx.subscribe(topic, callback)
    if status != 202:
        raise CheckFailed(f"re-subscription answered {status}")
    await ctx.wait_verified(callback, count=2)
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    await ctx.barrier(topic)
    if len(callback.deliveries) != 2:  # one publish above, one by the barrier
        raise CheckFailed(
            f"{len(callback.deliveries)} notifications for 2 publishes after "
            "re-subscribing: the subscription was duplicated"
        )


@check("rocks-104", "websub.rocks 104, §5.1", "unsubscription: no notification afterwards")
async def rocks_104(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback)
    status, _ = await ctx.unsubscribe(topic, callback)
    if status != 202:
        raise CheckFailed(f"unsubscription answered {status}")
    await ctx.wait_verified(callback, mode="unsubscribe")
    await ctx.barrier(topic)
    if callback.deliveries:
        raise CheckFailed("a notification arrived after the unsubscription was verified")


async def _content_type_check(ctx: Context, content: bytes, content_type: str) -> None:
    topic = ctx.harness.topic(content, content_type)
    callback = ctx.harness.callback()
    await ctx.subscribed(topic, callback)
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    delivery = callback.deliveries[0]
    if delivery.body != content:
        raise CheckFailed("the notification is not byte-for-byte the topic's content")
    check_notification(ctx, topic, delivery, None)


@check("rocks-105", "websub.rocks 105, §7", "text/plain topic delivered as is")
async def rocks_105(ctx: Context) -> None:
    await _content_type_check(ctx, b"A plaintext post\nwith two lines.\n", "text/plain")


@check("rocks-106", "websub.rocks 106, §7", "JSON topic delivered as is")
async def rocks_106(ctx: Context) -> None:
    body = json.dumps({"type": "entry", "content": "Hello", "n": 106}).encode()
    await _content_type_check(ctx, body, "application/json")


MALFORMED = {
    "missing-mode": {"hub.topic": "{topic}", "hub.callback": "{callback}"},
    "unknown-mode": {
        "hub.mode": "subscribe-all",
        "hub.topic": "{topic}",
        "hub.callback": "{callback}",
    },
    "missing-topic": {"hub.mode": "subscribe", "hub.callback": "{callback}"},
    "missing-callback": {"hub.mode": "subscribe", "hub.topic": "{topic}"},
    "callback-not-http": {
        "hub.mode": "subscribe",
        "hub.topic": "{topic}",
        "hub.callback": "ftp://127.0.0.1/cb",
    },
    "callback-relative": {
        "hub.mode": "subscribe",
        "hub.topic": "{topic}",
        "hub.callback": "/relative/cb",
    },
    "lease-not-integer": {
        "hub.mode": "subscribe",
        "hub.topic": "{topic}",
        "hub.callback": "{callback}",
        "hub.lease_seconds": "ten",
    },
    "lease-negative": {
        "hub.mode": "subscribe",
        "hub.topic": "{topic}",
        "hub.callback": "{callback}",
        "hub.lease_seconds": "-5",
    },
}


def _malformed_check(case: str, template: dict[str, str]) -> None:
    async def run(ctx: Context) -> None:
        topic, callback = ctx.harness.topic(), ctx.harness.callback()
        form = {k: v.format(topic=topic.url, callback=callback.url) for k, v in template.items()}
        status, text, content_type = await ctx.post_hub(form)
        if not 400 <= status < 500:
            raise CheckFailed(f"answered {status}, not 4xx")
        if not content_type.startswith("text/plain") or not text.strip():
            raise CheckFailed(f"no plain-text reason (Content-Type {content_type!r})")
        await asyncio.sleep(ctx.settle)
        if callback.verifications:
            raise CheckFailed("the hub verified a malformed request")

    check(f"bad-request-{case}", "§5.1.2, item 21", f"malformed request ({case}): 4xx + text")(run)


for _case, _template in MALFORMED.items():
    _malformed_check(_case, _template)


@check("secret-200-bytes", "§5.1, item 15", "hub.secret of 200 bytes is refused")
async def secret_too_long(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    status, _ = await ctx.subscribe(topic, callback, **{"hub.secret": "s" * 200})
    if not 400 <= status < 500:
        raise CheckFailed(f"a 200-byte secret was answered {status}, not 4xx")
    await asyncio.sleep(ctx.settle)
    if callback.verifications:
        raise CheckFailed("the hub went on to verify a subscription with a 200-byte secret")


@check("async-verification", "§5.1.2, item 22", "202 does not depend on verification")
async def async_verification(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback(verify="404")
    status, _ = await ctx.subscribe(topic, callback)
    if status != 202:
        raise CheckFailed(
            f"answered {status} for a callback that will refuse: verification "
            "must happen after the response"
        )


@check("unsubscribe-verification", "§5.3, item 27-28", "unsubscribe is verified with a challenge")
async def unsubscribe_verification(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback)
    await ctx.unsubscribe(topic, callback)
    await ctx.wait_verified(callback, mode="unsubscribe")
    request = next(v for v in callback.verifications if v.get("hub.mode") == "unsubscribe")
    if request.get("hub.topic") != topic.url or not request.get("hub.challenge"):
        raise CheckFailed("the unsubscribe verification lacks the exact topic or a challenge")


@check("single-use-challenge", "§8.2, item 32", "each verification has a new challenge")
async def single_use_challenge(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback)
    await ctx.subscribe(topic, callback)
    await ctx.wait_verified(callback, count=2)
    first, second = (v.get("hub.challenge") for v in callback.verifications[:2])
    if first == second:
        raise CheckFailed("the same hub.challenge was sent twice")


def _refused_echo_check(behaviour: str, label: str) -> None:
    async def run(ctx: Context) -> None:
        topic = ctx.harness.topic()
        callback = ctx.harness.callback(verify=behaviour)
        status, _ = await ctx.subscribe(topic, callback)
        if status != 202:
            raise Skipped(f"the hub answered {status} before verifying")
        await ctx.wait_verified(callback)
        await ctx.barrier(topic)
        if callback.deliveries:
            raise CheckFailed(f"a callback that answered {label} was treated as verified")

    check(
        f"verification-{behaviour}",
        "§5.3.1, item 29",
        f"verification answered {label}: not subscribed",
    )(run)


for _behaviour, _label in (
    ("wrong", "a wrong echo"),
    ("404", "404"),
    ("302", "a 302 redirect"),
    ("500", "500"),
):
    _refused_echo_check(_behaviour, _label)


@check("callback-query", "§5.1.1, item 19", "the callback's query string is preserved")
async def callback_query(ctx: Context) -> None:
    topic = ctx.harness.topic()
    callback = ctx.harness.callback(query="client=abc&n=1")
    await ctx.subscribed(topic, callback)
    verification = callback.verifications[0]
    if verification.get("client") != "abc" or verification.get("n") != "1":
        raise CheckFailed(f"the verification GET lost the query: {callback.verification_urls[0]}")
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    if callback.deliveries[0].query != "client=abc&n=1":
        raise CheckFailed(f"the delivery went to ?{callback.deliveries[0].query}")


@check("resubscribe-new-secret", "§5.1, item 17", "re-subscription replaces the secret")
async def resubscribe_new_secret(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback, **{"hub.secret": "first-secret"})
    await ctx.subscribe(topic, callback, **{"hub.secret": "second-secret"})
    await ctx.wait_verified(callback, count=2)
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    check_notification(ctx, topic, callback.deliveries[0], b"second-secret")


@check("lease-expiry", "§5.3.1, item 31", "a short lease expires and delivery stops")
async def lease_expiry(ctx: Context) -> None:
    topic, callback = ctx.harness.topic(), ctx.harness.callback()
    await ctx.subscribed(topic, callback, **{"hub.lease_seconds": "2"})
    granted = int(callback.verifications[0].get("hub.lease_seconds", "0") or 0)
    if granted <= 0:
        raise CheckFailed("no positive hub.lease_seconds in the verification (no perpetual leases)")
    if granted > ctx.patience:
        raise Skipped(f"the hub granted {granted}s for 2s asked; longer than --patience")
    await asyncio.sleep(granted + 1.0)
    await ctx.barrier(topic)
    if callback.deliveries:
        raise CheckFailed(f"delivered after the {granted}s lease ended")


@check("denial", "§5.2, item 25", "a refused topic gets a hub.mode=denied request")
async def denial(ctx: Context) -> None:
    callback = ctx.harness.callback()
    refused = "http://refused.invalid/conformance-topic"
    status, _ = await ctx.subscribe(refused, callback)
    if not await eventually(
        lambda: callback.denials or callback.verifications, timeout=ctx.timeout
    ):
        raise CheckFailed(f"no denial GET to the callback (the request was answered {status})")
    if callback.verifications and not callback.denials:
        raise Skipped("the hub accepts this topic; cannot test denial")
    notice = callback.denials[0]
    if notice.get("hub.topic") != refused:
        raise CheckFailed("the denial GET lacks the exact hub.topic")


@check("link-headers", "§7, item 39", "one rel=hub and exactly one rel=self on deliveries")
async def link_headers(ctx: Context) -> None:
    topic, callback = await _typical(ctx)
    rels = links(callback.deliveries[0])
    selfs = [url for url, rel in rels if rel == "self"]
    if len(selfs) != 1:
        raise CheckFailed(f"{len(selfs)} rel=self links, exactly one required")
    if selfs[0] != topic.url:
        raise CheckFailed(f"rel=self is {selfs[0]}, not the topic {topic.url}")
    if not [url for url, rel in rels if rel == "hub"]:
        raise CheckFailed("no rel=hub link")


@check("gone-410", "§7, item 40", "410 Gone ends the subscription")
async def gone(ctx: Context) -> None:
    topic = ctx.harness.topic()
    callback = ctx.harness.callback(status=410)
    await ctx.subscribed(topic, callback)
    await ctx.publish(topic)
    await ctx.wait_deliveries(callback)
    await asyncio.sleep(ctx.settle)
    callback.status = 202
    await ctx.barrier(topic)
    if len(callback.deliveries) > 1:
        raise CheckFailed("deliveries went on after the callback answered 410 Gone")


@check(
    "retry-then-survive",
    "§7, item 41",
    "a failing callback is retried; the subscription survives the retry budget",
)
async def retry_then_survive(ctx: Context) -> None:
    topic = ctx.harness.topic()
    callback = ctx.harness.callback(status=500)
    await ctx.subscribed(topic, callback)
    await ctx.publish(topic)
    if not await eventually(lambda: len(callback.deliveries) >= 2, timeout=ctx.patience):
        raise CheckFailed(f"no retry within {ctx.patience:g}s after a 500")
    quiet = 2.0
    stopped = await eventually(
        lambda: callback.deliveries[-1].at < time.time() - quiet,
        timeout=ctx.patience,
    )
    if not stopped:
        raise Skipped(f"the hub still retries after {ctx.patience:g}s; cannot reach the budget")
    callback.status = 202
    before = len(callback.deliveries)
    topic.content = b"content after the retry budget was spent"
    await ctx.publish(topic)
    if not await eventually(
        lambda: any(d.body == topic.content for d in callback.deliveries[before:]),
        timeout=ctx.timeout,
    ):
        raise CheckFailed("the subscription did not survive the retry budget (§7)")
