"""`hub.mode=publish` pings: tokens, --open-publish, external topics fetched as fat pings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .support import start_publisher, until


async def _subscribed(hub: Any, topic: str, sub: Any) -> None:
    assert (await hub.subscribe(topic, sub.callback))[0] == 202
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))


async def test_external_topic_is_fetched_and_delivered_as_is(
    make_hub: Callable[..., Any], subscriber: Any
) -> None:
    publisher = await start_publisher("", content=b'{"n": 1}', content_type="application/json")
    hub = await make_hub(allow_topic=[publisher.url("/")])
    publisher.hub_url = hub.url
    topic = publisher.url("/feed")
    await _subscribed(hub, topic, subscriber)
    assert await hub.ping(topic) == (202, "Accepted\n")
    await until(lambda: subscriber.deliveries)
    assert subscriber.deliveries[0].body == b'{"n": 1}'
    assert subscriber.deliveries[0].headers["Content-Type"] == "application/json"
    assert publisher.fetches == 1
    assert publisher.server is not None
    await publisher.server.close()


async def test_publish_needs_a_token_unless_open_publish(
    make_hub: Callable[..., Any], subscriber: Any
) -> None:
    publisher = await start_publisher("")
    closed = await make_hub(allow_topic=[publisher.url("/")])
    topic = publisher.url("/feed")
    status, text = await closed.ping(topic, token=None)
    assert status == 401 and "bearer token" in text
    status, _ = await closed.ping(topic, token="sethub_not-a-token")
    assert status == 401
    opened = await make_hub(allow_topic=[publisher.url("/")], open_publish=True)
    publisher.hub_url = opened.url
    await _subscribed(opened, topic, subscriber)
    assert (await opened.ping(topic, token=None))[0] == 202
    await until(lambda: subscriber.deliveries)
    await opened.create_topic("own")
    status, text = await opened.ping(opened.topic_url("own"), token=None)
    assert status == 403 and "publisher token" in text  # hub-owned topics always need one
    assert publisher.server is not None
    await publisher.server.close()


async def test_refused_and_failing_topics(make_hub: Callable[..., Any]) -> None:
    publisher = await start_publisher("", status=500)
    hub = await make_hub(allow_topic=[publisher.url("/")])
    # Outside the allowed prefix, and on loopback all the same: no test hands the hub an
    # address off this machine, even one it must refuse.
    status, text = await hub.ping(publisher.url("/feed").replace("127.0.0.1", "127.0.0.2"))
    assert status == 403 and "does not distribute" in text
    status, text = await hub.ping(hub.topic_url("never-created"))
    assert status == 403
    status, text = await hub.ping(publisher.url("/feed"))
    assert status == 422 and "answered HTTP 500" in text
    status, text = await hub.ping("http://127.0.0.1:1/feed")
    assert status == 403  # not under an allowed prefix
    unreachable = await make_hub(allow_topic=["http://127.0.0.1:1/"])
    status, text = await unreachable.ping("http://127.0.0.1:1/feed")
    assert status == 422 and "cannot fetch" in text
    assert (await hub.store.deliveries.counts())["pending"] == 0
    assert publisher.server is not None
    await publisher.server.close()
