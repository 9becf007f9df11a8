"""Identity events from publishers: validated against the catalog before anything is stored.

A `POST /events` body is one event object or an array of them. Each names its type (catalog short
name, event-type URI or a vendor alias), its subject (an RFC 9493 subject identifier), its data
(the event's payload, checked against the type's model), and optionally when it happened, a `txn`
and an idempotency `id`. A batch is validated whole: one bad event refuses the batch.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from set_tokens import Catalog
from set_tokens.events import CAEP_BASE, EventType, InvalidEventPayload, UnknownEventType
from set_tokens.subjects import InvalidSubjectIdentifier, parse_subject_identifier

from ..batching import Batcher
from ..config import Settings
from ..errors import BadRequest, ShuttingDown
from ..metrics import Metrics
from ..store import EventKind, NewEvent, PublishedEvent, PublishRequest, Store

__all__ = ["IdentityPublishing", "InvalidEvent", "ValidatedEvent", "build_event", "parse_events"]

SET_CONTENT_TYPE = "application/secevent+jwt"

EVENT_FIELDS = frozenset({"type", "subject", "data", "occurred_at", "txn", "id"})
MAX_ID_LENGTH = 200
MAX_TXN_LENGTH = 200
# Deep enough for any catalog payload; json.loads itself gives up (RecursionError) near 1,000.
MAX_JSON_DEPTH = 32
# `occurred_at` as epoch seconds: from 1970 to the last second RFC 3339 can write (9999-12-31).
LATEST_TIME_OF_EVENT = 253402300799
# Code points that are not characters: a JSON `\ud800` escape decodes to one, and neither
# SQLite nor a UTF-8 log line can take it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidEvent(BadRequest):
    """A publish body that does not describe valid identity events; `field` names the culprit."""

    code = "invalid_event"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ValidatedEvent:
    event_type: EventType
    subject: dict[str, Any]  # RFC 9493 wire form
    payload: dict[str, Any]  # validated, JSON-ready
    toe: int | None
    txn: str
    idempotency_id: str | None

    def to_json(self) -> bytes:
        """The stored event: what every subscription's SET is rendered from."""
        document = {
            "type": self.event_type.uri,
            "sub_id": self.subject,
            "payload": self.payload,
            "toe": self.toe,
            "txn": self.txn,
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _time_of_event(value: Any, field: str) -> int | None:
    """Epoch seconds of `occurred_at`; JSON numbers may be NaN, Infinity or 1e999 here."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEvent(field, "must be an RFC 3339 time or epoch seconds")
    if isinstance(value, int | float):
        seconds: float = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent(field, "is not an RFC 3339 time") from exc
        if moment.tzinfo is None:
            raise InvalidEvent(field, "must carry a time zone offset (RFC 3339)")
        seconds = moment.timestamp()
    else:
        raise InvalidEvent(field, "must be an RFC 3339 time or epoch seconds")
    if not (math.isfinite(seconds) and 0 <= seconds <= LATEST_TIME_OF_EVENT):
        raise InvalidEvent(
            field, f"must be a time from 1970 to 9999 (epoch seconds 0 to {LATEST_TIME_OF_EVENT})"
        )
    return int(seconds)


def _optional_string(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidEvent(field, f"must be a non-empty string of at most {limit} characters")
    return value


def _one(item: Any, where: str, catalog: Catalog) -> ValidatedEvent:
    if not isinstance(item, dict):
        raise InvalidEvent(where or "body", "an event must be a JSON object")
    prefix = f"{where}." if where else ""
    unknown = sorted(set(item) - EVENT_FIELDS)
    if unknown:
        raise InvalidEvent(f"{prefix}{unknown[0]}", "is not a field of an event")
    type_name = item.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise InvalidEvent(f"{prefix}type", "is required and must be a string")
    if "subject" not in item:
        raise InvalidEvent(f"{prefix}subject", "is required")
    data = item.get("data", {})
    if not isinstance(data, dict):
        raise InvalidEvent(f"{prefix}data", "must be a JSON object")
    return build_event(
        catalog,
        type_name=type_name,
        subject=item["subject"],
        data=data,
        toe=_time_of_event(item.get("occurred_at"), f"{prefix}occurred_at"),
        txn=_optional_string(item.get("txn"), f"{prefix}txn", MAX_TXN_LENGTH),
        idempotency_id=_optional_string(item.get("id"), f"{prefix}id", MAX_ID_LENGTH),
        prefix=prefix,
    )


def build_event(
    catalog: Catalog,
    *,
    type_name: str,
    subject: Any,
    data: dict[str, Any],
    toe: int | None,
    txn: str | None,
    idempotency_id: str | None,
    prefix: str = "",
) -> ValidatedEvent:
    """One validated event, from a publisher's JSON or from a vendor bridge.

    When the event happened also sets a CAEP event's `event_timestamp` (CAEP receivers read that
    claim, not RFC 8417's `toe`), unless the payload gives its own.
    """
    try:
        event_type = catalog.lookup(type_name)
    except UnknownEventType as exc:
        raise InvalidEvent(f"{prefix}type", str(exc)) from exc
    try:
        subject_id = parse_subject_identifier(subject).to_json()
    except InvalidSubjectIdentifier as exc:
        raise InvalidEvent(f"{prefix}subject", str(exc)) from exc
    if toe is not None and event_type.uri.startswith(CAEP_BASE):
        data = {"event_timestamp": toe, **data}
    try:
        model = catalog.validate_payload(event_type, data)
    except InvalidEventPayload as exc:
        field = f"{prefix}data.{exc.field}" if exc.field else f"{prefix}data"
        raise InvalidEvent(field, str(exc)) from exc
    return ValidatedEvent(
        event_type=event_type,
        subject=subject_id,
        payload=model.model_dump(mode="json", exclude_none=True, by_alias=True),
        toe=toe,
        txn=txn or uuid.uuid4().hex,
        idempotency_id=idempotency_id,
    )


def _check_document(document: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH, and strings (values or member names) that are
    not text, naming where. Iterative: the depth is not known until it has been walked."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InvalidEvent(where or "body", "is not valid Unicode text (lone surrogate)")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InvalidEvent("body", f"nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, list):
            stack.extend((item, f"{where}[{n}]", depth + 1) for n, item in enumerate(value))
            continue
        prefix = f"{where}." if where else ""
        for name, item in value.items():
            if _SURROGATE.search(name):
                raise InvalidEvent(where or "body", "has a member name that is not valid text")
            stack.append((item, f"{prefix}{name}", depth + 1))


def parse_events(body: bytes, catalog: Catalog, *, max_batch: int) -> list[ValidatedEvent]:
    """Validate a whole publish body, all or nothing."""
    try:
        # Decoded here, strictly: json.loads(bytes) would let invalid UTF-8 through as surrogates.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("body", "is not UTF-8") from exc
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise InvalidEvent("body", f"nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        raise InvalidEvent("body", "is not valid JSON") from exc
    _check_document(document)
    if isinstance(document, list):
        if not document:
            raise InvalidEvent("body", "an empty array publishes nothing")
        if len(document) > max_batch:
            raise InvalidEvent("body", f"at most {max_batch} events per request")
        return [_one(item, f"[{n}]", catalog) for n, item in enumerate(document)]
    return [_one(document, "", catalog)]


class IdentityPublishing:
    """Validated identity events in, stored events and deliveries out, in one transaction."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        settings: Settings,
        metrics: Metrics,
        *,
        clock: Callable[[], float],
        wake_dispatcher: Callable[[], None],
    ) -> None:
        self._store = store
        self.catalog = catalog
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._wake = wake_dispatcher
        # Concurrent publishes share one transaction: one fsync for a burst from many publishers.
        # Requests arriving while a batch commits join the next one: a burst from many publishers
        # costs one fsync per batch, and a lone publisher never waits.
        self._publishes: Batcher[PublishRequest, tuple[list[PublishedEvent], bool]] = Batcher(
            store.deliveries.publish_requests
        )

    async def close(self, timeout: float) -> None:
        """At a stop: take no more publishes (each is refused, 503), let the batches already
        taken commit for up to `timeout` seconds, then give up on the rest (their callers are
        refused too). Every caller is answered, and no batch is left running when the store
        closes after this."""
        await self._publishes.close(timeout=timeout)

    def parse(self, body: bytes) -> list[ValidatedEvent]:
        return parse_events(body, self.catalog, max_batch=self._settings.max_batch_events)

    async def publish(
        self, events: list[ValidatedEvent], *, token_id: int, request_key: str | None
    ) -> tuple[list[PublishedEvent], bool]:
        """Store the batch; the same key (per token) within the window publishes nothing new."""
        return await self._submit(events, publisher=str(token_id), request_key=request_key)

    async def publish_ingested(
        self, source: str, events: list[ValidatedEvent]
    ) -> list[PublishedEvent]:
        """Store the events a vendor webhook made; an event id the source sent before, within
        the window, publishes nothing new (vendors retry deliveries)."""
        published, _ = await self._submit(events, publisher=f"source:{source}", request_key=None)
        return published

    async def _submit(
        self, events: list[ValidatedEvent], *, publisher: str, request_key: str | None
    ) -> tuple[list[PublishedEvent], bool]:
        new = [
            NewEvent(
                topic=self._settings.topic_url(event.event_type.topic),
                content_type=SET_CONTENT_TYPE,
                body=event.to_json(),
                kind=EventKind.IDENTITY,
                event_type=event.event_type.uri,
                txn=event.txn,
                idempotency_key=(
                    f"{publisher}:event:{event.idempotency_id}" if event.idempotency_id else None
                ),
            )
            for event in events
        ]
        request = PublishRequest(
            tuple(new),
            now=self._clock(),
            idempotency_key=f"{publisher}:request:{request_key}" if request_key else None,
            idempotency_window=self._settings.idempotency_window,
        )
        if self._publishes.closed:
            raise ShuttingDown("the hub is stopping and takes no more events; retry shortly")
        try:
            answer = await self._publishes.submit(request)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request itself is cancelled, not only its batch
            # `close` gave up on the batch: it may have been stored or not.
            raise ShuttingDown(
                "the hub stopped before these events were confirmed stored; retry them"
                " (with the same event ids they publish once)"
            ) from None
        if answer is None:
            raise RuntimeError("the publish batch gave no answer")
        published, replayed = answer
        if not replayed:
            self._metrics.events.inc(len(events))
            if any(item.deliveries for item in published):
                self._wake()
        return published, replayed
