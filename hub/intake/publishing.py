"""Publishing (WebSub §6): turn a ping or posted content into a stored event with its deliveries.

The hub answers 202 only after `Deliveries.publish` committed, so an accepted event survives any
crash. External topics are fetched first and their exact body and Content-Type distributed (a fat
ping, §7); hub-owned topics distribute the content their publisher posted.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import Settings
from ..errors import BadRequest, TopicNotAllowed
from ..metrics import Metrics
from ..outbound import OutboundClient, OutboundError
from ..store import PublishedEvent, Store, Topic
from .limits import RateLimiter
from .topic_policy import TopicPolicy

__all__ = ["DEFAULT_CONTENT_TYPE", "Publishing", "TopicFetchFailed"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class TopicFetchFailed(BadRequest):
    status = 422
    code = "topic_fetch_failed"


class Publishing:
    def __init__(
        self,
        store: Store,
        topics: TopicPolicy,
        client: OutboundClient,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], float],
        wake_dispatcher: Callable[[], None],
    ) -> None:
        self._store = store
        self._topics = topics
        self._client = client
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._wake = wake_dispatcher
        self._rate = RateLimiter(
            rate=settings.publish_rate, burst=settings.rate_burst, what="publish requests"
        )

    def admit(self, publisher: str) -> None:
        """Rate-limit one publish request of `publisher` (a token, or an address)."""
        self._rate.check(publisher)

    async def _distribute(self, topic_url: str, content_type: str, body: bytes) -> PublishedEvent:
        event = await self._store.deliveries.publish(
            topic=topic_url, content_type=content_type, body=body, now=self._clock()
        )
        self._metrics.events.inc()
        if event.deliveries:
            self._wake()
        return event

    async def post_content(self, name: str, content_type: str, body: bytes) -> PublishedEvent:
        """A publisher posted new content of a hub-owned topic: keep it, and distribute it."""
        await self._store.topics.put(
            name=name, content_type=content_type, content=body, now=self._clock()
        )
        return await self._distribute(self._settings.topic_url(name), content_type, body)

    async def _fetch(self, url: str) -> tuple[str, bytes]:
        try:
            response = await self._client.request(
                "GET",
                url,
                timeout=self._settings.fetch_timeout,
                max_body=self._settings.fetch_max_bytes,
            )
        except OutboundError as exc:
            raise TopicFetchFailed(f"cannot fetch {url}: {exc}") from exc
        if not 200 <= response.status < 300:
            raise TopicFetchFailed(f"cannot fetch {url}: it answered HTTP {response.status}")
        if response.truncated:
            raise TopicFetchFailed(
                f"cannot fetch {url}: larger than {self._settings.fetch_max_bytes} bytes"
            )
        return response.headers.get("Content-Type", DEFAULT_CONTENT_TYPE), response.body

    async def ping(self, urls: tuple[str, ...], *, may_publish_own: bool) -> list[PublishedEvent]:
        """`hub.mode=publish`: every URL is checked and fetched before any is stored."""
        contents: list[tuple[str, str, bytes]] = []
        for url in urls:
            name = await self._topics.check(url)
            if name is None:  # fetched as normalised, the form the topic policy compared
                content_type, body = await self._fetch(self._topics.external_url(url))
            else:
                if not may_publish_own:
                    raise TopicNotAllowed(f"publishing {url} needs a publisher token")
                topic: Topic | None = await self._store.topics.get(name)
                if topic is None:
                    raise TopicNotAllowed(f"{url} is not a topic of this hub")
                content_type, body = topic.content_type, topic.content
            contents.append((url, content_type, body))
        return [await self._distribute(*content) for content in contents]
