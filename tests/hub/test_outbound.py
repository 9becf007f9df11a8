"""The outbound client's address policy, redirects and read caps, against real loopback servers."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.outbound import DestinationPolicy, OutboundClient, RefusedDestination, resolve_and_check
from hub.outbound.addresses import is_public

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


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:bea1"])
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_allow_list_of_networks() -> None:
    policy = DestinationPolicy(allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert policy.permits(ipaddress.ip_address("10.9.9.9"))
    assert not policy.permits(ipaddress.ip_address("192.168.0.1"))


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
