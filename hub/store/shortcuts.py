"""What both stores' deliveries repositories say in terms of `publish_requests`, said once."""

from __future__ import annotations

from collections.abc import Sequence

from .records import NewEvent, PublishedEvent, PublishRequest

__all__ = ["PublishShortcuts"]


class PublishShortcuts:
    """`publish` and `publish_batch`, for a repository whose `publish_requests` does the work."""

    async def publish_requests(
        self, requests: Sequence[PublishRequest]
    ) -> list[tuple[list[PublishedEvent], bool]]:
        raise NotImplementedError

    async def publish(
        self, *, topic: str, content_type: str, body: bytes, now: float
    ) -> PublishedEvent:
        """Store one content event and its deliveries (see `publish_batch`)."""
        published, _ = await self.publish_batch(
            [NewEvent(topic=topic, content_type=content_type, body=body)], now=now
        )
        return published[0]

    async def publish_batch(
        self,
        events: Sequence[NewEvent],
        *,
        now: float,
        idempotency_key: str | None = None,
        idempotency_window: float = 0.0,
    ) -> tuple[list[PublishedEvent], bool]:
        """Store events and one delivery per matching active subscription in ONE transaction."""
        (result,) = await self.publish_requests(
            [PublishRequest(tuple(events), now, idempotency_key, idempotency_window)]
        )
        return result
