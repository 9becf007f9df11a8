"""`--allow-topic` compares parsed URLs (security review M6), and the hub fetches what it compared.

The policy tests are pure: topic URLs are only parsed and compared, never fetched. The fetch test
runs a real hub against a scripted topic server on 127.0.0.1 that records each request line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from hub.config import ConfigError, Settings, load_settings
from hub.errors import TopicNotAllowed
from hub.intake.topic_policy import TopicPolicy

from .test_http1 import read_request

# The prefixes of the security review's hub D (loopback addresses; nothing here connects).
PREFIXES = ["http://127.0.0.2:35377", "http://127.0.0.2:35377/feeds/", "http://127.0.0.2"]


async def _no_own_topics(name: str) -> bool:
    return False


def policy(*prefixes: str) -> TopicPolicy:
    return TopicPolicy(Settings(allow_topic=list(prefixes)), _no_own_topics)


@pytest.mark.parametrize(
    ("prefixes", "topic"),
    [
        # userinfo: the host is what follows the "@"
        (PREFIXES, "http://127.0.0.2:35377@127.0.0.4/echo?hub.challenge=via-userinfo"),
        (PREFIXES, "http://127.0.0.2@127.0.0.4/echo"),
        # a hostname that merely starts with an allowed host
        (PREFIXES, "http://127.0.0.2.rt-evil.test/echo"),
        (PREFIXES, "http://127.0.0.2:353770/echo"),  # ... or a port that starts with one
        # dot segments after a path prefix, plain or percent-encoded or hidden
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/../echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/%2e%2e/echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/.%2E/echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/a/../../echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/..%2fecho"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/..;x/echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/..%5Cecho"),
        # scheme, port and path boundary compared exactly
        (["https://127.0.0.2/"], "http://127.0.0.2/feed"),
        (["http://127.0.0.2"], "http://127.0.0.2:8080/feed"),
        (["http://127.0.0.2/feeds"], "http://127.0.0.2/feedsX"),
    ],
)
async def test_tricks_do_not_pass_the_prefixes(prefixes: list[str], topic: str) -> None:
    with pytest.raises(TopicNotAllowed):
        await policy(*prefixes).check(topic)


@pytest.mark.parametrize(
    ("prefixes", "topic", "fetched"),
    [
        (PREFIXES, "http://127.0.0.2:35377/echo", "http://127.0.0.2:35377/echo"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/a/../b", "http://127.0.0.2:35377/feeds/b"),
        (PREFIXES[1:2], "http://127.0.0.2:35377/feeds/./%62?x=1",
         "http://127.0.0.2:35377/feeds/b?x=1"),
        (["http://127.0.0.2/feeds"], "http://127.0.0.2/feeds", "http://127.0.0.2/feeds"),
        (["http://127.0.0.2/feeds"], "HTTP://127.0.0.2:80/feeds/x", "http://127.0.0.2/feeds/x"),
        (["https://feeds.example/"], "https://FEEDS.example:443/a", "https://feeds.example/a"),
        (["http://127.0.0.2:*"], "http://127.0.0.2:9/any", "http://127.0.0.2:9/any"),
        (["http://[::1]:*/t/"], "http://[0:0::1]:8080/t/x", "http://[::1]:8080/t/x"),
    ],
)
async def test_allowed_topics_are_fetched_normalised(
    prefixes: list[str], topic: str, fetched: str
) -> None:
    topics = policy(*prefixes)
    assert await topics.check(topic) is None
    assert topics.external_url(topic) == fetched


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("http://127.0.0.1:", "empty port"),  # meant "any port" while prefixes were strings
        ("http://user@feeds.example/", "user information"),
        ("http://feeds.example/a/../b/", "'.' or '..'"),
        ("http://feeds.example/%2e%2e/", "'.' or '..'"),
        ("http://feeds.example/feed?x=1", "ends with its path"),
        ("http://feeds.example/#top", "fragment"),
        ("ftp://feeds.example/", "not an absolute http(s) URL"),
        ("feeds.example/", "not an absolute http(s) URL"),
        ("http://feeds.example:99999/", "port"),
        ("http://f\u00e9eds.example/", "punycode"),
    ],
)
def test_bad_prefixes_are_refused_when_settings_load(prefix: str, message: str) -> None:
    with pytest.raises(ConfigError, match="--allow-topic") as raised:
        load_settings({"allow_topic": [prefix]}, environ={})
    assert message in str(raised.value)


def test_good_prefixes_load() -> None:
    prefixes = ["http://127.0.0.1:*", "https://feeds.example/a", "http://[::1]:8080/"]
    assert load_settings({"allow_topic": prefixes}, environ={}).allow_topic == prefixes


async def test_the_hub_fetches_the_url_it_compared(make_hub: Callable[..., Any]) -> None:
    """A ping of `/feeds/a/../b` fetches `/feeds/b`; `/feeds/../x` is refused, never fetched."""
    request_lines: list[bytes] = []

    async def topic_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append((await read_request(reader)).split(b"\r\n", 1)[0])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(topic_server, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        hub = await make_hub(allow_topic=[f"{base}/feeds/"])
        assert (await hub.ping(f"{base}/feeds/a/../b"))[0] == 202
        for sneaky in ("/feeds/../secret", "/feeds/%2e%2e/secret", "/feeds/..%2fsecret"):
            status, text = await hub.ping(base + sneaky)
            assert status == 403 and "does not distribute" in text
    assert request_lines == [b"GET /feeds/b HTTP/1.1"]
