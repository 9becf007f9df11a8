"""Rate limits and caps key on addresses, not on how a request spells them (security review L4).

The spellings below are numeric: parsing them resolves nothing over the network, and every
request these tests send goes to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from hub.intake.limits import address_key, callback_key, client_key

from .support import until

SPELLINGS_OF_127_0_0_2 = ("127.0.0.2", "2130706434", "0x7f000002", "0177.0.0.2", "127.2",
                          "[::ffff:127.0.0.2]", "[::ffff:7f00:2]")


async def test_every_spelling_of_an_address_is_one_callback_host() -> None:
    keys = {await callback_key(f"http://{host}:8000/cb") for host in SPELLINGS_OF_127_0_0_2}
    assert keys == {"127.0.0.2"}
    assert await callback_key("http://[::1]:8000/cb") == "::/64"


def test_client_keys_group_ipv6_by_64_and_unmap_ipv4() -> None:
    assert client_key("::ffff:127.0.0.2") == client_key("127.0.0.2") == "127.0.0.2"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1%eth0") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert client_key(None) == "unknown"
    assert address_key(ipaddress.ip_address("2001:db8::1:2:3:4")) == "2001:db8::/64"


LOOPBACK_SPELLINGS = ("127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]")


async def test_the_per_host_rate_limit_sees_through_spellings(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(subscribe_rate_per_callback_host=0.01, rate_burst=2)
    sub = await make_subscriber()
    await hub.create_topic("news")
    port = sub.server.port
    answers = [
        await hub.subscribe(hub.topic_url("news"), f"http://{host}:{port}/callback")
        for host in LOOPBACK_SPELLINGS
    ]
    assert [status for status, _ in answers] == [202, 202, 429, 429, 429]
    assert "too many subscription requests for this callback host" in answers[2][1]


async def test_the_per_host_cap_sees_through_spellings(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(max_subscriptions_per_callback_host=1)
    sub = await make_subscriber()
    await hub.create_topic("news")
    topic, port = hub.topic_url("news"), sub.server.port
    assert (await hub.subscribe(topic, sub.callback))[0] == 202
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=sub.callback))
    status, text = await hub.subscribe(topic, f"http://2130706433:{port}/callback")
    assert status == 429 and "callback host has reached its subscription limit" in text
