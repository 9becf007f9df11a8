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
from ..websub import InvalidCallback

__all__ = ["TOPIC_NAME", "TopicPolicy", "check_callback"]

# Always with `fullmatch`: `$` would also match before a final newline (`nl\n`).
TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

TopicExists = Callable[[str], Awaitable[bool]]


class TopicPolicy:
    """Hub-owned topics live under `<public-url>/topics/`; external ones need an allowed prefix."""

    def __init__(self, settings: Settings, topic_exists: TopicExists) -> None:
        self._prefix = f"{settings.base_url}/topics/"
        self._external = tuple(settings.allow_topic)
        self._topic_exists = topic_exists

    def own_topic(self, url: str) -> str | None:
        """The name of a hub-owned topic URL, or None for any other URL."""
        if not url.startswith(self._prefix):
            return None
        name = url[len(self._prefix) :]
        return name if TOPIC_NAME.fullmatch(name) else None

    def is_external_allowed(self, url: str) -> bool:
        return url.startswith(self._external) if self._external else False

    async def check(self, url: str) -> str | None:
        """Raise TopicNotAllowed unless the hub serves `url`; return its name if hub-owned."""
        name = self.own_topic(url)
        if name is not None:
            if await self._topic_exists(name):
                return name
            raise TopicNotAllowed(f"{url} is not a topic of this hub")
        if self.is_external_allowed(url):
            return None
        raise TopicNotAllowed(f"this hub does not distribute {url}")


async def check_callback(url: str, policy: DestinationPolicy) -> None:
    """Refuse callbacks that resolve to addresses the hub will not call (checked again later)."""
    try:
        await resolve_and_check(url, policy)
    except RefusedDestination as exc:
        raise CallbackNotAllowed(f"hub.callback refused: {exc}") from exc
    except OutboundError as exc:
        raise InvalidCallback(f"hub.callback host cannot be resolved: {exc}") from exc
