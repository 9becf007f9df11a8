"""The hub's main path end to end over loopback: subscribe, verify, publish, deliver."""

from __future__ import annotations

from .support import RunningHub, Subscriber, until


async def test_subscribe_publish_deliver(hub: RunningHub, subscriber: Subscriber) -> None:
    await hub.create_topic("news", b"v1")
    topic = hub.topic_url("news")
    status, _ = await hub.subscribe(topic, subscriber.callback)
    assert status == 202
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=subscriber.callback))
    await hub.publish_content("news", b"v2")
    await until(lambda: subscriber.deliveries)
    delivery = subscriber.deliveries[0]
    assert delivery.body == b"v2"
    assert delivery.headers["Content-Type"] == "text/plain"
    assert "X-Hub-Signature" not in delivery.headers
