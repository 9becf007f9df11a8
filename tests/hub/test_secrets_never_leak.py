"""hub.secret values, publisher tokens and private keys never appear in logs or responses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from .support import until

SECRET = "hub-secret-that-must-not-leak"


async def test_no_secret_in_logs_or_any_endpoint(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = await make_hub(retry_schedule=[0.05])
    failing = await make_subscriber(deliver_status=500)
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    await hub.subscribe(topic, failing.callback, **{"hub.secret": SECRET})
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=failing.callback))
    await hub.publish_content("news", b"x")
    await until(lambda: len(failing.deliveries) == 2)
    keys_dir = hub.settings.keys_dir
    private_pems = [p.read_text() for p in keys_dir.glob("*.pem")]
    assert private_pems
    seen = [caplog.text]
    base = hub.settings.base_url
    for path in ("/metrics", "/healthz", "/topics", "/topics/news", "/topics/login",
                 "/.well-known/jwks.json"):
        async with hub.session.get(base + path) as response:
            seen.append(await response.text())
    status, text, _ = await hub.post_form({"hub.mode": "subscribe", "hub.topic": topic,
                                           "hub.callback": failing.callback,
                                           "hub.secret": SECRET * 10})
    assert status == 400
    seen.append(text)
    everything = "\n".join(seen)
    assert SECRET not in everything
    assert hub.token not in everything
    for pem in private_pems:
        body = "".join(pem.strip().splitlines()[1:-1])
        assert body[:40] not in everything.replace("\n", "")
    settings_repr = repr(hub.settings)
    assert "secret_key=None" in settings_repr or "**********" in settings_repr
