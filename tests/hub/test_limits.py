"""Inbound limits: rates per client, callback host and token; caps; parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import TooManyRequests
from hub.intake.limits import RateLimiter

from .support import until


def test_token_bucket_refills_and_reports_the_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, what="tests", clock=lambda: now[0])
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 1
    limiter.check("b")  # keys are independent
    now[0] += 0.5  # one token back at 2/s
    limiter.check("a")
    with pytest.raises(TooManyRequests):
        limiter.check("a")


def test_rate_zero_is_off() -> None:
    limiter = RateLimiter(rate=0, burst=1, what="tests")
    for _ in range(1000):
        limiter.check("a")


async def test_subscribe_rate_per_client_answers_429(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(subscribe_rate=1, rate_burst=2)
    sub = await make_subscriber()
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    assert (await hub.subscribe(topic, sub.callback))[0] == 202
    assert (await hub.subscribe(topic, sub.callback))[0] == 202
    status, text, response = await hub.post_form(
        {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": sub.callback}
    )
    assert status == 429
    assert "too many subscription requests" in text
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Content-Type"].startswith("text/plain")


async def test_publish_rate_per_token(make_hub: Callable[..., Any]) -> None:
    hub = await make_hub(publish_rate=1, rate_burst=2)
    await hub.create_topic("news")
    await hub.create_topic("news")
    async with hub.session.post(
        hub.topic_url("news"),
        data=b"x",
        headers={"Authorization": f"Bearer {hub.token}", "Content-Type": "text/plain"},
    ) as response:
        assert response.status == 429
        assert "Retry-After" in response.headers


async def test_cap_per_topic(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(max_subscriptions_per_topic=1)
    first, second = await make_subscriber(), await make_subscriber()
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    assert (await hub.subscribe(topic, first.callback))[0] == 202
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=first.callback))
    status, text = await hub.subscribe(topic, second.callback)
    assert status == 429 and "subscription limit" in text
    assert (await hub.subscribe(topic, first.callback))[0] == 202  # renewal is not capped


async def test_too_many_parameters_is_413(hub: Any) -> None:
    form = {f"p{n}": "x" for n in range(40)}
    form["hub.mode"] = "subscribe"
    status, text, _ = await hub.post_form(form)
    assert status == 413 and "too many form parameters" in text
