"""Receiving one native webhook: find its source, let the vendor's bridge authenticate and map
it, and publish the catalog events exactly as `POST /events` does (durable before the answer,
the same group commit, idempotent on the vendor's event id).

A vendor event with no mapping is acknowledged all the same, so the identity provider does not
retry it forever; it is counted in `/metrics` (`sethub_ingest_unmapped`) and logged once per
vendor and name.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from set_tokens import Catalog

from ...errors import NotFound
from ...metrics import Metrics
from ...store import PublishedEvent, Source, Store
from ..identity_events import IdentityPublishing, build_event
from . import bridges
from .common import Bridge, Inbound, MalformedWebhook, parse_json, shown

__all__ = ["IngestAnswer", "Ingestion"]

log = logging.getLogger("sethub.ingest")

# Names logged as unmapped are remembered to log each once; past this many, no more are logged
# (the metric still counts them), so a misbehaving source cannot grow the set without bound.
MAX_LOGGED_UNMAPPED = 1000
WEBSUB_VERIFY_MODES = frozenset({"subscribe", "unsubscribe"})


@dataclass(frozen=True)
class IngestAnswer:
    published: list[PublishedEvent]
    unmapped: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [{"id": str(p.id), "topic": p.topic, "txn": p.txn} for p in self.published],
            "unmapped": self.unmapped,
        }


class Ingestion:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        identity: IdentityPublishing,
        metrics: Metrics,
        *,
        admit: Callable[[str], None],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._identity = identity
        self._metrics = metrics
        self._admit = admit
        self._bridges = bridges(catalog)
        self._logged: set[tuple[str, str]] = set()

    async def _source(self, name: str) -> tuple[Source, Bridge]:
        source = await self._store.sources.get(name)
        if source is None or source.vendor not in self._bridges:
            raise NotFound(f"no source named {name!r}")
        return source, self._bridges[source.vendor]

    async def receive(self, name: str, inbound: Inbound) -> IngestAnswer:
        source, bridge = await self._source(name)
        bridge.authenticate(source, inbound)  # before anything of the body is believed
        self._admit(f"source:{source.name}")
        translation = bridge.translate(source, parse_json(inbound.body), inbound)
        txn = uuid.uuid4().hex  # ties the SETs of one webhook together
        events = [
            build_event(
                self._catalog,
                type_name=event.type_name,
                subject=event.subject,
                data=event.data,
                toe=event.occurred_at,
                txn=txn,
                idempotency_id=event.event_id,
            )
            for event in translation.events
        ]
        for vendor_name in translation.unmapped:
            self._unmapped(source, vendor_name)
        published = await self._identity.publish_ingested(source.name, events) if events else []
        self._metrics.ingested.labels(vendor=source.vendor).inc(len(events))
        return IngestAnswer(published, [shown(n) for n in translation.unmapped])

    async def verify_intent(self, name: str, query: dict[str, str]) -> str:
        """A WebSub hub (Asgardeo's) confirming our subscription: echo its challenge."""
        source, _ = await self._source(name)
        if source.vendor != "asgardeo":
            raise NotFound(f"source {name!r} takes no verification requests")
        mode, challenge = query.get("hub.mode"), query.get("hub.challenge")
        if mode not in WEBSUB_VERIFY_MODES:
            raise MalformedWebhook("hub.mode", "must be subscribe or unsubscribe")
        if not challenge:
            raise MalformedWebhook("hub.challenge", "is required")
        log.info("source %s: answered a WebSub %s verification", source.name, mode)
        return challenge

    def _unmapped(self, source: Source, vendor_name: str) -> None:
        name = shown(vendor_name)
        self._metrics.unmapped.labels(vendor=source.vendor, event=name).inc()
        key = (source.vendor, name)
        if key not in self._logged and len(self._logged) < MAX_LOGGED_UNMAPPED:
            self._logged.add(key)
            log.warning(
                "source %s: %s event %r has no catalog mapping; acknowledged and counted in "
                "sethub_ingest_unmapped (logged once)",
                source.name,
                source.vendor,
                name,
            )
