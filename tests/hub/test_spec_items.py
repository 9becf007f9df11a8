"""The W3C WebSub Recommendation's hub requirements, by item number of shared/specs/websub-hub.md.

Most items are judged by the conformance suite's checks, each named with its item; here they run
against an in-process sethub, one test per check. Items the suite does not cover have their own
tests below. Not tested, because a hub shows nothing for them: 23 (a hub MAY redirect), 24 and
26 (MAY validate or deny later), 36 (migration is the publisher's), 44 (no negotiation exists).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conformance import set_checks, websub_checks  # noqa: F401 (registers the checks)
from conformance.harness import Harness
from conformance.runner import CHECKS, Check, Context, Result, run_checks
from hub.intake.auth import create_token

from .support import RunningHub, Subscriber, start_hub, stop_hub, until

CHECKS_AT_ONCE = 6  # checks under way together, each against a hub of its own


async def _judge(directory: Path, item: Check) -> Result:
    """Run one check against a new in-process sethub of its own."""
    hub = await start_hub(directory, allow_topic=["http://127.0.0.1:*"], retry_schedule=[0.2, 0.2])
    subscriber_token = await create_token(
        hub.store,
        scope="subscribe",
        label="conformance",
        now=time.time(),
        audiences=set_checks.AUDIENCES,
    )
    harness = Harness(hub.url)
    await harness.start()
    try:
        async with aiohttp.ClientSession() as session:
            base = hub.settings.base_url
            context = Context(
                hub=hub.url,
                harness=harness,
                session=session,
                token=hub.token,
                subscriber_token=subscriber_token,
                timeout=5,
                settle=0.2,
                patience=10,
                events_url=f"{base}/events",
                set_topic=f"{base}/topics/session",
                issuer=base,
                jwks_url=f"{base}/.well-known/jwks.json",
            )
            (result,) = await run_checks([item], context)
    finally:
        await harness.close()
        await stop_hub(hub)
    return result


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def conformance_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every check's result, each judged against a hub of its own, CHECKS_AT_ONCE at a time:
    most of a check is waiting (for a verification, a retry, a lease to end), so one after the
    other they took ~20 s, two thirds of it in the lease-expiry and retry checks."""
    limit = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def judged(item: Check) -> Result:
        async with limit:
            return await _judge(tmp_path_factory.mktemp(item.id), item)

    results = await asyncio.gather(*(judged(item) for item in CHECKS))
    return {item.id: result for item, result in zip(CHECKS, results, strict=True)}


@pytest.mark.parametrize("item", CHECKS, ids=lambda c: f"{c.id} [{c.ref}]")
def test_conformance_check(conformance_results: dict[str, Result], item: Check) -> None:
    """Items 10-22, 25, 27-32, 37-43 and websub.rocks 100-106, and the SET checks."""
    result = conformance_results[item.id]
    assert result.status == "pass", result.reason


@pytest.fixture
async def news(hub: RunningHub) -> AsyncIterator[str]:
    await hub.create_topic("news", b"content")
    yield hub.topic_url("news")


async def _active(hub: RunningHub, topic: str, callback: str) -> bool:
    return await hub.store.subscriptions.get(topic=topic, callback=callback) is not None


async def test_item_10_only_form_encoded_requests(hub: RunningHub, news: str) -> None:
    """The request is a form POST (§5.1): a JSON body is refused with 415."""
    async with hub.session.post(hub.url, json={"hub.mode": "subscribe"}) as response:
        assert response.status == 415
        assert response.content_type == "text/plain"


async def test_item_14_lease_ignored_on_unsubscribe(
    hub: RunningHub, news: str, subscriber: Subscriber
) -> None:
    """hub.lease_seconds MAY be present on unsubscribe and MUST be ignored."""
    await hub.subscribe(news, subscriber.callback)
    await until(lambda: _active(hub, news, subscriber.callback))
    status, _, _ = await hub.post_form(
        {
            "hub.mode": "unsubscribe",
            "hub.topic": news,
            "hub.callback": subscriber.callback,
            "hub.lease_seconds": "not-a-number",
        }
    )
    assert status == 202
    await until(lambda: _inactive(hub, news, subscriber.callback))


async def _inactive(hub: RunningHub, topic: str, callback: str) -> bool:
    return not await _active(hub, topic, callback)


async def test_item_17_failed_verification_leaves_state_unchanged(
    hub: RunningHub, news: str, subscriber: Subscriber
) -> None:
    """A re-subscription overrides the previous state only once verified."""
    await hub.subscribe(news, subscriber.callback, **{"hub.secret": "first"})
    await until(lambda: _active(hub, news, subscriber.callback))
    subscriber.verify = "404"
    await hub.subscribe(news, subscriber.callback, **{"hub.secret": "second"})
    await until(lambda: len(subscriber.verifications) == 2)
    await until(lambda: _no_intents(hub))
    stored = await hub.store.subscriptions.get(topic=news, callback=subscriber.callback)
    assert stored is not None and stored.secret == b"first"


async def _no_intents(hub: RunningHub) -> bool:
    return await hub.store.intents.count() == 0


async def test_item_18_unreserved_escapes_are_decoded(
    hub: RunningHub, news: str, subscriber: Subscriber
) -> None:
    """Hubs MUST decode percent-encoded non-reserved characters in topic and callback URLs."""
    encoded_topic = news.replace("news", "%6Eews")
    encoded_callback = subscriber.callback.replace("callback", "c%61llback")
    assert (await hub.subscribe(encoded_topic, encoded_callback))[0] == 202
    await until(lambda: _active(hub, news, subscriber.callback))
    assert subscriber.verifications[0]["hub.topic"] == news


async def test_item_30_requested_lease_is_clamped(
    make_hub: Callable[..., Any], subscriber: Subscriber
) -> None:
    """The hub MAY change the lease; it grants within its bounds and says what it granted."""
    hub = await make_hub(lease_min=60, lease_default=600, lease_max=3600)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    for asked, granted in (("999999999", "3600"), ("1", "60"), (None, "600")):
        extra = {"hub.lease_seconds": asked} if asked else {}
        await hub.subscribe(topic, subscriber.callback, **extra)
        await until(
            lambda g=granted: (
                subscriber.verifications and subscriber.verifications[-1]["hub.lease_seconds"] == g
            )
        )
    await until(lambda: _active(hub, topic, subscriber.callback))
    stored = await hub.store.subscriptions.get(topic=topic, callback=subscriber.callback)
    assert stored is not None and stored.expires_at <= time.time() + 3600


async def test_item_33_unsubscribe_changes_state_only_once_verified(
    hub: RunningHub, news: str, subscriber: Subscriber
) -> None:
    """An unsubscription the subscriber does not confirm leaves the subscription active."""
    await hub.subscribe(news, subscriber.callback)
    await until(lambda: _active(hub, news, subscriber.callback))
    subscriber.verify = "404"
    assert (await hub.unsubscribe(news, subscriber.callback))[0] == 202
    await until(lambda: "unsubscribe" in subscriber.modes())
    await until(lambda: _no_intents(hub))
    assert await _active(hub, news, subscriber.callback)


async def test_item_35_publish_accepts_hub_url_and_hub_topic_repeated(
    hub: RunningHub, news: str, make_subscriber: Callable[..., Any]
) -> None:
    """Accept both `hub.url` and `hub.topic`, each possibly repeated, and answer 202."""
    await hub.create_topic("other", b"other content")
    other = hub.topic_url("other")
    a, b = await make_subscriber(), await make_subscriber()
    await hub.subscribe(news, a.callback)
    await hub.subscribe(other, b.callback)
    await until(lambda: _active(hub, other, b.callback))
    await until(lambda: _active(hub, news, a.callback))
    form = [("hub.mode", "publish"), ("hub.url", news), ("hub.topic", other)]
    status, _, _ = await hub.post_form(form, headers={"Authorization": f"Bearer {hub.token}"})
    assert status == 202
    await until(lambda: a.deliveries and b.deliveries)
    assert (a.deliveries[0].body, b.deliveries[0].body) == (b"content", b"other content")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_items_45_to_47_topics_advertise_hub_and_self(
    hub: RunningHub, news: str, method: str
) -> None:
    """Topic URLs answer GET and HEAD with Link rel=hub and exactly one rel=self."""
    for url in (news, hub.topic_url("login")):
        async with hub.session.request(method, url) as response:
            assert response.status == 200
            links = response.headers.getall("Link")
            assert links == [f'<{hub.url}>; rel="hub", <{url}>; rel="self"']


async def test_item_40_41_redirect_answer_is_a_failure(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    """Every code but 2xx and 410 is a failure, redirects included (see test_subscriber_faults
    for the full set of faults)."""
    hub = await make_hub(retry_schedule=[0.05])
    sub = await make_subscriber(deliver_status=[302, 202])
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, sub.callback)
    await until(lambda: _active(hub, topic, sub.callback))
    await hub.publish_content("news", b"x")
    await until(lambda: len(sub.deliveries) == 2)
