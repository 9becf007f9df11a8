"""Which topics and callbacks this hub accepts (WebSub §5.1.1: hubs MAY refuse by policy)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ..config import Settings
from ..errors import CallbackNotAllowed, TopicNotAllowed
from ..outbound import (
    DestinationPolicy,
    OutboundError,
    RefusedDestination,
    resolve_and_check,
)
from ..topic_urls import TopicURLError, parse_prefix, parse_topic_url
from ..websub import InvalidCallback

__all__ = ["TOPIC_NAME", "TopicPolicy", "check_callback"]

# Always with `fullmatch`: `$` would also match before a final newline (`nl\n`).
TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

TopicExists = Callable[[str], Awaitable[bool]]


class TopicPolicy:
    """Hub-owned topics live under `<public-url>/topics/`; external ones need an allowed prefix,
    compared on parsed, normalised URLs (see `hub.topic_urls`)."""

    def __init__(self, settings: Settings, topic_exists: TopicExists) -> None:
        self._prefix = f"{settings.base_url}/topics/"
        self._external = tuple(parse_prefix(prefix) for prefix in settings.allow_topic)
        self._topic_exists = topic_exists

    def own_topic(self, url: str) -> str | None:
        """The name of a hub-owned topic URL, or None for any other URL."""
        if not url.startswith(self._prefix):
            return None
        name = url[len(self._prefix) :]
        return name if TOPIC_NAME.fullmatch(name) else None

    def external_url(self, url: str) -> str:
        """The URL to fetch for the external topic `url`: its normalised form, which is what the
        prefixes were compared with. TopicNotAllowed unless a prefix admits it."""
        refusal = f"this hub does not distribute {url}"
        if not self._external:
            raise TopicNotAllowed(refusal)
        try:
            topic = parse_topic_url(url)
        except TopicURLError as exc:
            raise TopicNotAllowed(f"{refusal}: {exc}") from exc
        if not any(prefix.admits(topic) for prefix in self._external):
            raise TopicNotAllowed(refusal)
        return str(topic)

    async def check(self, url: str) -> str | None:
        """Raise TopicNotAllowed unless the hub serves `url`; return its name if hub-owned."""
        name = self.own_topic(url)
        if name is not None:
            if await self._topic_exists(name):
                return name
            raise TopicNotAllowed(f"{url} is not a topic of this hub")
        self.external_url(url)
        return None


async def check_callback(url: str, policy: DestinationPolicy) -> None:
    """Refuse callbacks that resolve to addresses the hub will not call (checked again later)."""
    try:
        await resolve_and_check(url, policy)
    except RefusedDestination as exc:
        raise CallbackNotAllowed(f"hub.callback refused: {exc}") from exc
    except OutboundError as exc:
        raise InvalidCallback(f"hub.callback host cannot be resolved: {exc}") from exc
