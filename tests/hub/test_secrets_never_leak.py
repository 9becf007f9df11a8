"""hub.secret values, tokens, private keys and delivery bodies never appear in logs or responses."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from hub.store import EventKind, NewEvent

from .support import Subscriber, free_port, start_hub, stop_hub, until

SECRET = "hub-secret-that-must-not-leak"
CAPABILITY = "capability-token-in-the-callback-query"
EMAIL = "leak.check@example.com"
CONTENT = b"content-body-that-must-not-leak"


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


async def quiet_subscriber(**kwargs: Any) -> Subscriber:
    """A subscriber without an access log: the captured log then holds only the hub's lines
    (the subscriber's own access log would show its callback query, which is its business)."""
    subscriber = Subscriber(**kwargs)
    subscriber.server = TestServer(subscriber.app(), host="127.0.0.1", port=free_port())
    await subscriber.server.start_server(access_log=None)
    return subscriber


def _hub_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as a handler would write it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def _failed_handling(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.exc_info and r.name.startswith("sethub") for r in caplog.records)


async def test_a_full_cycle_at_debug_level_logs_no_secret_token_key_or_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Subscribe (with a hub.secret and a capability token in the callback's query), publish
    content and an identity event to a subscriber answering 500 until the retries are spent, and
    make one delivery's handling raise: no log line at any level carries any of the secrets."""
    caplog.set_level(logging.DEBUG)
    hub = await start_hub(tmp_path, retry_schedule=[0.05, 0.05])
    failing = await quiet_subscriber(deliver_status=500)
    plain_callback = failing.callback
    callback = f"{plain_callback}?cap={CAPABILITY}"
    try:
        await hub.create_topic("news")
        news, login = hub.topic_url("news"), hub.topic_url("login")
        for topic in (news, login):
            status, text = await hub.subscribe(topic, callback, **{"hub.secret": SECRET})
            assert status == 202, text
            await until(lambda t=topic: hub.store.subscriptions.get(topic=t, callback=callback))
        await hub.publish_content("news", CONTENT)
        event = {"type": "USER_LOGIN_FAILURE", "subject": {"format": "email", "email": EMAIL},
                 "data": {"reason": "bad password"}}
        async with hub.session.post(
            f"{hub.settings.base_url}/events", json=event,
            headers={"Authorization": f"Bearer {hub.token}"},
        ) as response:
            assert response.status == 202, await response.text()
        # An identity event the signer cannot decode, as a damaged row would be: handling its
        # delivery raises inside the dispatcher.
        broken = json.dumps({"sub_id": {"format": "email", "email": EMAIL}})[:-1].encode()
        await hub.store.deliveries.publish_batch(
            [NewEvent(topic=login, content_type="application/secevent+jwt", body=broken,
                      kind=EventKind.IDENTITY)],
            now=time.time(),
        )
        await until(lambda: _failed_handling(caplog))
        # The content, the SET and the broken event: 3 attempts each, then dead (a failure on
        # the hub's side counts against the retry budget too, so the broken one dies as well).
        await until(lambda: _dead(hub, 3))
        delivered_bodies = {d.body for d in failing.deliveries}
        assert CONTENT in delivered_bodies and len(delivered_bodies) == 2
        private_pems = [p.read_text() for p in hub.settings.keys_dir.glob("*.pem")]
        assert private_pems
    finally:
        await stop_hub(hub)
        assert failing.server is not None
        await failing.server.close()

    logged = _hub_log(caplog)
    assert "sethub.dispatch" in logged and "sethub.verification" in logged  # the log was on
    for planted in (SECRET, CAPABILITY, EMAIL, hub.token, CONTENT.decode()):
        assert planted not in logged, planted
    for body in delivered_bodies:  # the SET as sent, and its signature, are bodies too
        assert body.decode() not in logged
        assert body.decode().rsplit(".", 1)[-1] not in logged
    flat = logged.replace("\n", "")
    for pem in private_pems:
        for line in pem.strip().splitlines()[1:-1]:
            assert line not in flat
    assert f"{plain_callback}?..." in logged  # callbacks are named, without their query


async def _dead(hub: Any, count: int) -> bool:
    return (await hub.store.deliveries.counts())["dead"] == count
