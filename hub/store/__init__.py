"""Durable state of the hub. `Store` groups one repository per table over one database.

Only SQLite exists today. Every unit of work (a verification, a delivery) is claimed as a lease with
an owner and an expiry, so the same shapes carry over to several nodes sharing PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .database import Database, StoreOpenError
from .deliveries import Attempt, Deliveries
from .intents import Intents
from .records import (
    DeliveryState,
    DueDelivery,
    EventKind,
    Intent,
    IntentMode,
    NewEvent,
    PublishedEvent,
    Subscription,
    Token,
    Topic,
)
from .subscriptions import Subscriptions
from .tokens import Tokens
from .topics import Topics

__all__ = [
    "Attempt",
    "DeliveryState",
    "DueDelivery",
    "EventKind",
    "Intent",
    "IntentMode",
    "NewEvent",
    "PublishedEvent",
    "Store",
    "StoreOpenError",
    "Subscription",
    "Token",
    "Topic",
    "open_store",
]


@dataclass(frozen=True)
class Store:
    db: Database
    subscriptions: Subscriptions
    intents: Intents
    deliveries: Deliveries
    topics: Topics
    tokens: Tokens

    async def release_claims(self) -> None:
        """Release every claim: valid only when this process is the database's one user."""
        await self.intents.release_claims()
        await self.deliveries.release_claims()

    async def close(self) -> None:
        await self.db.close()


async def open_store(path: Path) -> Store:
    db = await Database.open(path)
    return Store(
        db=db,
        subscriptions=Subscriptions(db),
        intents=Intents(db),
        deliveries=Deliveries(db),
        topics=Topics(db),
        tokens=Tokens(db),
    )
