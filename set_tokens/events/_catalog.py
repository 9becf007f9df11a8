"""The event catalog: every event type a hub publishes and a receiver understands.

Look an event type up by its URI, its short name (`login-failed`) or a vendor's name for it
(`USER_LOGIN_FAILURE`, `loginFailed`, ...). Several short names may share one standard URI
(`password-changed` and `credential-change` are both CAEP credential-change); `by_uri` returns the
standard's own entry. Events with no CAEP or RISC URI live under a configurable namespace.

Vendor names match exactly, except those of a vendor that spells one name in several cases
(LoginRadius), which match whatever their case. A vendor name that means different events
depending on its payload (Logto `User.SuspensionStatus.Updated`) names no entry: the lookup fails
with a message that says so, and only that vendor's bridge, which reads the payload, maps it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ValidationError

from ._caep import CAEP_BASE
from ._common import EventPayload
from ._entries import BUILT_IN, PAYLOAD_DEPENDENT, PAYLOAD_DEPENDENT_MEANINGS
from ._risc import RISC_BASE
from ._sources import VENDOR_SOURCES, case_insensitive

__all__ = [
    "DEFAULT_NAMESPACE",
    "Catalog",
    "EventType",
    "InvalidEventPayload",
    "UnknownEventType",
    "default_catalog",
]

# Identity events without a standard URI: `f"{namespace}{name}"`. A URN, so it claims no domain;
# an operator may use a URL of their own (`--event-namespace https://idp.example/events/`).
DEFAULT_NAMESPACE = "urn:sethub:event-type:"
# The `standard` of an EventType made for an event URI the catalog does not know.
UNKNOWN = "unknown"


class UnknownEventType(LookupError):
    def __init__(self, key: str, hint: str | None = None) -> None:
        message = f"unknown event type {key!r}"
        super().__init__(f"{message}: {hint}" if hint else message)
        self.key = key
        self.hint = hint


class InvalidEventPayload(ValueError):
    """The payload does not match its event type's model; `field` is the dotted member path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass(frozen=True)
class EventType:
    """An event type: its URI, short name, topic and payload model.

    A verified SET always has one, even for an event URI the catalog does not know (a receiver
    passes such events on rather than refusing them): `EventType.unknown(uri)`, whose `known` is
    False, whose `name` is the URI itself, and whose payload model keeps every member.
    """

    uri: str
    name: str
    topic: str  # "" for an unknown event type: no topic of this hub carries it
    payload_model: type[BaseModel]
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> vendor
    defaults: Mapping[str, Any] = field(default_factory=dict)
    standard: str = "custom"  # "caep" | "risc" | "sethub" | "custom" | "unknown"
    sources: Mapping[str, str] = field(default_factory=dict)  # alias -> vendor doc page

    @classmethod
    def unknown(cls, uri: str) -> EventType:
        """The event type of a URI no catalog entry has: named by the URI, without a topic."""
        return cls(uri=uri, name=uri, topic="", payload_model=EventPayload, standard=UNKNOWN)

    @property
    def known(self) -> bool:
        """Whether the catalog knows this event type (False: made by `unknown()`)."""
        return self.standard != UNKNOWN


class Catalog:
    def __init__(
        self,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        agreed_credential_types: tuple[str, ...] = (),
    ) -> None:
        """`agreed_credential_types`: CAEP `credential_type` values agreed with the receivers
        beyond the ones CAEP lists (CAEP 1.0 §3.3 allows any such value)."""
        if not namespace or ":" not in namespace:
            raise ValueError("the namespace must be a URI prefix")
        self.namespace = namespace
        self.agreed_credential_types = tuple(agreed_credential_types)
        self._entries: list[EventType] = []
        self._by_key: dict[str, EventType] = {}
        self._by_folded: dict[str, EventType] = {}  # vendors whose names vary in case
        self._canonical: dict[str, EventType] = {}
        for entry in BUILT_IN:
            base = {"caep": CAEP_BASE, "risc": RISC_BASE}.get(entry.standard, namespace)
            self._add(
                EventType(
                    uri=base + entry.uri_name,
                    name=entry.name,
                    topic=entry.topic,
                    payload_model=entry.model,
                    aliases=MappingProxyType({a.name: a.vendor for a in entry.aliases}),
                    defaults=MappingProxyType(dict(entry.defaults)),
                    standard=entry.standard,
                    sources=MappingProxyType(
                        {a.name: VENDOR_SOURCES[a.source] for a in entry.aliases}
                    ),
                )
            )

    def _add(self, event_type: EventType) -> None:
        keys = [event_type.name, *event_type.aliases]
        canonical = event_type.uri.endswith("/" + event_type.name) or event_type.uri.endswith(
            ":" + event_type.name
        )
        for key in keys:
            if key in self._by_key:
                raise ValueError(f"{key!r} already names {self._by_key[key].name!r}")
        if canonical and event_type.uri in self._canonical:
            raise ValueError(f"{event_type.uri} is already registered")
        for key in keys:
            self._by_key[key] = event_type
        for alias, vendor in event_type.aliases.items():
            if case_insensitive(vendor):
                folded = alias.casefold()
                if self._by_folded.get(folded, event_type) is not event_type:
                    raise ValueError(f"{alias!r} already names another entry, in another case")
                self._by_folded[folded] = event_type
        if canonical or event_type.uri not in self._canonical:
            self._canonical[event_type.uri] = event_type
        self._entries.append(event_type)

    def register(
        self,
        *,
        uri: str,
        name: str,
        topic: str,
        payload_model: type[BaseModel],
        aliases: Mapping[str, str] | None = None,
    ) -> EventType:
        """Add an event type at run time (its URI must be new, its names unused)."""
        if ":" not in uri:
            raise ValueError("an event type URI must be absolute")
        if uri in self._canonical:
            raise ValueError(f"{uri} is already registered")
        event_type = EventType(
            uri=uri,
            name=name,
            topic=topic,
            payload_model=payload_model,
            aliases=MappingProxyType(dict(aliases or {})),
            standard="custom",
        )
        self._add(event_type)
        self._canonical[uri] = event_type
        return event_type

    def lookup(self, key: str) -> EventType:
        """The entry for a short name, a vendor alias or a URI."""
        found = (
            self._by_key.get(key) or self._canonical.get(key) or self._by_folded.get(key.casefold())
        )
        if found is None:
            raise UnknownEventType(key, self.payload_dependent(key))
        return found

    @staticmethod
    def payload_dependent(key: str) -> str | None:
        """What a vendor name that depends on its payload becomes, or None for other names."""
        alias = PAYLOAD_DEPENDENT.get(key) or next(
            (
                a
                for a in PAYLOAD_DEPENDENT.values()
                if case_insensitive(a.vendor) and a.name.casefold() == key.casefold()
            ),
            None,
        )
        if alias is None:
            return None
        meaning = PAYLOAD_DEPENDENT_MEANINGS[alias.name]
        return (
            f"{alias.vendor} {alias.name} means {meaning}: publish one of those, "
            f"or send the {alias.vendor} webhook itself to /ingest/SOURCE"
        )

    def by_uri(self, uri: str) -> EventType:
        try:
            return self._canonical[uri]
        except KeyError:
            raise UnknownEventType(uri) from None

    def topics(self) -> dict[str, list[EventType]]:
        """Topic name -> the entries published on it."""
        grouped: dict[str, list[EventType]] = {}
        for entry in self._entries:
            grouped.setdefault(entry.topic, []).append(entry)
        return grouped

    def validate_payload(self, event_type: EventType, data: Mapping[str, Any]) -> BaseModel:
        """The payload as its model, defaults applied; InvalidEventPayload names the member."""
        merged = {**event_type.defaults, **data}
        context = {"agreed_credential_types": self.agreed_credential_types}
        try:
            return event_type.payload_model.model_validate(merged, context=context)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = "is required" if first["type"] == "missing" else first["msg"]
            raise InvalidEventPayload(where, message.removeprefix("Value error, ")) from exc

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """A shared catalog with the default namespace, built on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Catalog()
    return _DEFAULT
