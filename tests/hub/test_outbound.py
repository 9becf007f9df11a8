"""The outbound client's address policy, redirects and read caps, against real loopback servers."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.errors import CallbackNotAllowed
from hub.intake.topic_policy import check_callback
from hub.outbound import DestinationPolicy, OutboundClient, RefusedDestination, resolve_and_check
from hub.outbound.addresses import embedded_ipv4, is_public

from .support import free_port


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::",
        "240.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert not DestinationPolicy().permits(ipaddress.ip_address(address))
    assert DestinationPolicy(allow_private=True).permits(ipaddress.ip_address(address))


# Offline only: these addresses go to the policy functions, never to a socket.
NOT_GLOBALLY_ROUTABLE = [
    "100.64.0.1",  # shared address space (RFC 6598)
    "100.100.100.200",  # ...where Alibaba Cloud's metadata service lives
    "100.127.255.254",
    "192.88.99.1",  # deprecated 6to4 relay anycast
    "192.0.0.9",  # IETF protocol assignments
    "192.0.0.170",  # NAT64 discovery
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "198.51.100.7",
    "203.0.113.7",
    "192.31.196.1",  # AS112
    "255.255.255.255",
    "239.255.255.250",
    "0.1.2.3",
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:6464:64c8::",  # 6to4 of 100.100.100.200
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45 (obfuscated)
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, client 8.8.8.8: 2001::/23 is not global
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::6464:64c8",  # NAT64 of 100.100.100.200
    "64:ff9b:1::808:808",  # local-use NAT64 prefix, whatever it carries
    "::ffff:100.64.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::808:808",  # IPv4-compatible forms are deprecated and not routable, whatever they carry
    "fec0::1",  # site-local
    "fe80::1%1",
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "100::1",  # discard-only
    "2001:db8::1",
    "2001:10::1",  # ORCHID
    "3fff::1",  # documentation (RFC 9637)
    "5f00::1",  # SRv6 SIDs
    "2620:4f:8000::1",  # AS112-v6
]


@pytest.mark.parametrize("address", NOT_GLOBALLY_ROUTABLE)
def test_addresses_that_are_not_globally_routable_are_refused(address: str) -> None:
    """M5: is_global is the base, and the IPv4 address inside 6to4, NAT64 and mapped forms
    counts; the operator's allowances still open them."""
    ip = ipaddress.ip_address(address)
    assert not is_public(ip)
    assert not DestinationPolicy().permits(ip)
    assert DestinationPolicy(allow_private=True).permits(ip)
    assert DestinationPolicy(allowed_networks=(ipaddress.ip_network(ip),)).permits(ip)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:2800:21f:cb07:6820:80da:af6b:bea1",
        "2002:808:808::",  # 6to4 of a public address
        "64:ff9b::808:808",  # NAT64 (DNS64 networks) of a public address
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_ipv4_address_inside() -> None:
    inside = {
        "2002:a9fe:a9fe::1": "169.254.169.254",
        "64:ff9b::6464:64c8": "100.100.100.200",
        "::ffff:10.1.2.3": "10.1.2.3",
        "2001:db8::1": None,
    }
    for outer, inner in inside.items():
        found = embedded_ipv4(ipaddress.IPv6Address(outer))
        assert (str(found) if found else None) == inner


def test_allow_list_of_networks() -> None:
    policy = DestinationPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert policy.permits(ipaddress.ip_address("10.9.9.9"))
    assert policy.permits(ipaddress.ip_address("::ffff:10.9.9.9"))  # the same socket address
    assert not policy.permits(ipaddress.ip_address("192.168.0.1"))
    assert not policy.permits(ipaddress.ip_address("2002:a09:909::"))  # 6to4 is another route
    shared = DestinationPolicy(allowed_networks=(ipaddress.ip_network("100.64.0.0/10"),))
    assert shared.permits(ipaddress.ip_address("100.100.100.200"))


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://[2002:a9fe:a9fe::]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fec0::1]:8080/cb",
        "http://192.88.99.1/cb",
    ],
)
async def test_literal_callbacks_are_refused_before_any_connection(url: str) -> None:
    """A literal address is judged without DNS and without connecting (nothing is dialled)."""
    with pytest.raises(RefusedDestination):
        await resolve_and_check(url, DestinationPolicy())
    with pytest.raises(CallbackNotAllowed):
        await check_callback(url, DestinationPolicy())
    await resolve_and_check(url, DestinationPolicy(allow_private=True))


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/target"})

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 100_000)

    async def target(request: web.Request) -> web.Response:
        return web.Response(text="target")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for part in (b"first ", b"second ", b"third"):
            await response.write(part)
            await asyncio.sleep(0.05)
        return response

    app = web.Application()
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/target", target)
    app.router.add_get("/chunked", chunked)
    test_server = TestServer(app, host="127.0.0.1", port=free_port())
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def test_loopback_refused_by_default_even_by_name(server: TestServer) -> None:
    async with OutboundClient(DestinationPolicy()) as client:
        for host in ("127.0.0.1", "localhost"):
            url = f"http://{host}:{server.port}/target"
            with pytest.raises(RefusedDestination):
                await client.request("GET", url, timeout=2, max_body=10)
            with pytest.raises(RefusedDestination):
                await resolve_and_check(url, DestinationPolicy())


async def test_redirects_are_not_followed(server: TestServer) -> None:
    async with OutboundClient(DestinationPolicy(allow_private=True)) as client:
        response = await client.request(
            "GET", str(server.make_url("/redirect")), timeout=2, max_body=100
        )
    assert response.status == 302


async def test_response_reads_are_capped(server: TestServer) -> None:
    async with OutboundClient(DestinationPolicy(allow_private=True)) as client:
        response = await client.request(
            "GET", str(server.make_url("/big")), timeout=2, max_body=1000
        )
    assert len(response.body) == 1000 and response.truncated


async def test_non_http_urls_refused() -> None:
    async with OutboundClient(DestinationPolicy(allow_private=True)) as client:
        with pytest.raises(RefusedDestination):
            await client.request("GET", "file:///etc/passwd", timeout=2, max_body=10)


async def test_https_only_refuses_http_callbacks(make_hub: Any, subscriber: Any) -> None:
    hub = await make_hub(https_only_callbacks=True)
    await hub.create_topic("news")
    status, text = await hub.subscribe(hub.topic_url("news"), subscriber.callback)
    assert status == 403 and "https://" in text


async def test_allowed_network_opens_private_addresses(make_hub: Any, subscriber: Any) -> None:
    from .support import until

    hub = await make_hub(allow_private_callbacks=False, allow_network=["127.0.0.0/8"])
    await hub.create_topic("news")
    topic = hub.topic_url("news")
    assert (await hub.subscribe(topic, subscriber.callback))[0] == 202
    await until(lambda: hub.store.subscriptions.get(topic=topic, callback=subscriber.callback))
    closed = await make_hub(allow_private_callbacks=False, allow_network=["10.0.0.0/8"])
    await closed.create_topic("news")
    assert (await closed.subscribe(closed.topic_url("news"), subscriber.callback))[0] == 403


async def test_bodies_arriving_in_pieces_are_read_whole(server: TestServer) -> None:
    async with OutboundClient(DestinationPolicy(allow_private=True)) as client:
        response = await client.request("GET", str(server.make_url("/chunked")), timeout=2,
                                        max_body=1000)
    assert response.body == b"first second third" and not response.truncated
