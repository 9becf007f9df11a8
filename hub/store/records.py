"""Plain values the store hands to the rest of the hub. Work items carry ids, not live rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DeliveryState",
    "DueDelivery",
    "Intent",
    "IntentMode",
    "PublishedEvent",
    "Subscription",
    "Token",
    "Topic",
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
    secret: bytes | None
    lease_seconds: int
    expires_at: float
    created_at: float


@dataclass(frozen=True, slots=True)
class Intent:
    """A subscription request answered 202 and not yet verified (or a denial not yet sent)."""

    id: int
    mode: IntentMode
    topic: str
    callback: str
    secret: bytes | None
    lease_seconds: int | None
    reason: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """Everything the dispatcher needs to make one delivery attempt."""

    id: int
    event_id: int
    subscription_id: int
    attempts: int
    topic: str
    callback: str
    secret: bytes | None
    content_type: str
    body: bytes
    event_created_at: float


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    id: int
    topic: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    content_type: str
    content: bytes
    updated_at: float


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    scope: str
    label: str | None
    created_at: float
