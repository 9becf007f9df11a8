"""Plain values the store hands to the rest of the hub. Work items carry ids, not live rows.

Secrets and bodies are left out of every repr (`field(repr=False)`): a record that reaches a log
line or a traceback by accident must not carry a hub.secret or an event's personal data with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "Attempt",
    "Claimed",
    "DeliveryState",
    "DueDelivery",
    "EventKind",
    "Intent",
    "IntentMode",
    "Lease",
    "NewEvent",
    "PublishRequest",
    "PublishedEvent",
    "RequeueReport",
    "Revocation",
    "SchemaStatus",
    "Settlement",
    "SigningKeyRecord",
    "SigningKeys",
    "Source",
    "Subscription",
    "Token",
    "Topic",
    "WorkKind",
]


class IntentMode(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    DENIED = "denied"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # retry budget spent, or a permanent rejection: kept for operators
    CANCELLED = "cancelled"  # the subscription ended before the delivery succeeded


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    topic: str
    callback: str
    secret: bytes | None = field(repr=False)
    lease_seconds: int
    expires_at: float
    created_at: float
    audience: str | None = None
    event_types: tuple[str, ...] | None = None
    token_id: int | None = None  # the subscriber token that owns it (None: an open topic's)


@dataclass(frozen=True, slots=True)
class Intent:
    """A subscription request answered 202 and not yet verified (or a denial not yet sent)."""

    id: int
    mode: IntentMode
    topic: str
    callback: str
    secret: bytes | None = field(repr=False)
    lease_seconds: int | None
    reason: str | None
    attempts: int
    audience: str | None = None
    event_types: tuple[str, ...] | None = None
    token_id: int | None = None  # the subscriber token that asked (None: an open topic)
    callback_host: str = ""  # the key of the callback's host: the address it resolved to


class EventKind(StrEnum):
    CONTENT = "content"  # the body goes out as is (WebSub fat ping)
    IDENTITY = "identity"  # rendered into a SET per subscription


@dataclass(frozen=True, slots=True)
class Lease:
    """One claim of a delivery: who holds it, and which claim of it this is (the generation
    goes up at every claim). An attempt starts, and its outcome lands, only under the lease that
    claimed it: once a claim has expired and the delivery was claimed again, or the delivery
    was cancelled, the old holder's writes change nothing (fencing)."""

    owner: str
    generation: int


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """Everything the dispatcher needs to make one delivery attempt.

    `rendered` is False for an identity event's first attempt: `body` is then the event JSON and
    the dispatcher renders the subscription's own SET, with `jti`, and sends it.
    """

    id: int
    event_id: int
    subscription_id: int
    attempts: int
    topic: str
    callback: str
    secret: bytes | None = field(repr=False)
    content_type: str
    body: bytes = field(repr=False)
    event_created_at: float
    lease: Lease
    kind: EventKind = EventKind.CONTENT
    rendered: bool = True
    audience: str | None = None
    jti: str | None = None  # drawn with the delivery (None for ones stored before migration 3)


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim leased, and the newest delivery id when it was made: every delivery
    stored later has a larger id (ids only grow), so a claim of new work can start there."""

    deliveries: list[DueDelivery]
    newest_id: int


@dataclass(frozen=True, slots=True)
class RequeueReport:
    """What `sethub deliveries retry` did with each id it was given (all the dead ones when it
    was given none): re-queued, or why not."""

    requeued: list[int]
    ended: list[int]  # dead, but their subscription has ended: never sent to anyone else
    disabled: list[int]  # dead, and their subscription is disabled until it subscribes again
    unknown: list[int]
    not_dead: dict[int, DeliveryState]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store: content for every subscriber, or an identity event to render per one."""

    topic: str
    content_type: str
    body: bytes = field(repr=False)
    kind: EventKind = EventKind.CONTENT
    event_type: str | None = None  # the event-type URI subscriptions may filter on
    txn: str | None = None
    idempotency_key: str | None = None  # the same key within the window publishes nothing new


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    id: int
    topic: str
    deliveries: int
    txn: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    content_type: str
    content: bytes = field(repr=False)
    updated_at: float


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    scope: str
    label: str | None
    created_at: float
    audiences: tuple[str, ...] = ()  # the SET audiences a subscriber may ask for
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class Revocation(StrEnum):
    REVOKED = "revoked"
    ALREADY = "already revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """One publisher request: its events, stored together or not at all."""

    events: tuple[NewEvent, ...]
    now: float
    idempotency_key: str | None = None
    idempotency_window: float = 0.0

    @property
    def keyed(self) -> bool:
        return self.idempotency_key is not None or any(e.idempotency_key for e in self.events)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt did, recorded with the state change it causes."""

    started_at: float
    duration: float
    outcome: str
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """A delivery's new state after an attempt; see `Deliveries.record_many`.

    `body`: the SET rendered for this attempt, kept (if none is yet) so that a retry resends
    exactly it. `lease`: the claim the attempt was made under; the settlement lands only if
    the delivery is still pending under it.
    """

    delivery_id: int
    subscription_id: int
    attempt: Attempt
    state: DeliveryState
    next_attempt_at: float | None = None
    rejection: str | None = None
    body: bytes | None = field(default=None, repr=False)
    lease: Lease = field(kw_only=True)


class WorkKind(StrEnum):
    """What a store tells the hub it has stored, so that the worker for it looks at once."""

    DELIVERIES = "deliveries"
    INTENTS = "intents"


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands: the migration it has, and the newest this code knows."""

    version: int
    latest: int

    @property
    def pending(self) -> tuple[int, ...]:
        """The migrations still to apply, in order (none when the database is newer)."""
        return tuple(range(self.version + 1, self.latest + 1))

    @property
    def newer_than_code(self) -> bool:
        return self.version > self.latest


@dataclass(frozen=True, slots=True)
class Source:
    """An identity provider sending its native webhooks to `/ingest/NAME`."""

    name: str
    vendor: str  # logto | loginradius | cidaas | asgardeo
    secret: bytes  # what authenticates its webhooks (an HMAC key or an API key)
    options: Mapping[str, str] = field(default_factory=dict)  # vendor details (docs/bridges.md)
    created_at: float = 0.0

    def __repr__(self) -> str:  # never print the secret by accident
        return f"Source(name={self.name!r}, vendor={self.vendor!r})"


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """One SET signing key as a shared store keeps it. `private_pem` is plaintext here, in
    memory; the store seals it before it reaches the database and opens it when read back.
    `public_jwk` (JSON text) is stored plain: it is what the JWKS publishes anyway."""

    kid: str
    alg: str
    state: str  # pending | active | retiring, as set_tokens' KeySet names them
    created_at: float
    activate_at: float | None
    public_jwk: str
    private_pem: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The stored key set and its generation, which goes up at every change (0: no key set)."""

    generation: int
    keys: tuple[SigningKeyRecord, ...] = ()
