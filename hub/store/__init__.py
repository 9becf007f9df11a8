"""Durable state of the hub. `Store` groups one repository per table over one database.

Only SQLite exists today. Every unit of work (a verification, a delivery) is claimed as a lease with
an owner and an expiry (a delivery's also with a generation, which fences its writes: `Lease`), so
the same shapes carry over to several nodes sharing PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..sealing import SealingError, SecretBox
from .errors import StoreError, StoreHealth, StoreOpenError, StoreUnavailableError
from .records import (
    Claimed,
    DeliveryState,
    DueDelivery,
    EventKind,
    Intent,
    IntentMode,
    Lease,
    NewEvent,
    PublishedEvent,
    RequeueReport,
    Subscription,
    Token,
    Topic,
)
from .sqlite.database import DEFAULT_BUSY_TIMEOUT, Database
from .sqlite.deliveries import Attempt, Deliveries, Settlement
from .sqlite.events import PublishRequest
from .sqlite.intents import Intents
from .sqlite.plaintext_secrets import seal_plaintext
from .sqlite.subscriptions import Subscriptions
from .sqlite.tokens import Tokens
from .sqlite.topics import Topics

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
    "SealingError",
    "Settlement",
    "Store",
    "StoreError",
    "StoreHealth",
    "StoreOpenError",
    "StoreUnavailableError",
    "Subscription",
    "Token",
    "Topic",
    "open_store",
    "seal_plaintext_secrets",
]


@dataclass(frozen=True)
class Store:
    db: Database
    subscriptions: Subscriptions
    intents: Intents
    deliveries: Deliveries
    topics: Topics
    tokens: Tokens

    @property
    def health(self) -> StoreHealth:
        """Whether writes succeed, from the store's own writes: no query, answered at once."""
        return self.db.health

    async def release_claims(self) -> None:
        """Release every claim: valid only when this process is the database's one user."""
        await self.intents.release_claims()
        await self.deliveries.release_claims()

    async def close(self) -> None:
        await self.db.close()


async def open_store(
    path: Path,
    *,
    secret_key: bytes | None = None,
    max_bytes: int = 0,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> Store:
    """Open (creating and migrating) the database; `secret_key` seals hub.secrets at rest."""
    db = await Database.open(path, max_bytes=max_bytes, busy_timeout=busy_timeout, clock=clock)
    box = SecretBox(secret_key)
    store = Store(
        db=db,
        subscriptions=Subscriptions(db, box),
        intents=Intents(db, box),
        deliveries=Deliveries(db, box),
        topics=Topics(db),
        tokens=Tokens(db),
    )
    try:
        await _check_key(db, box)
    except SealingError as exc:
        await db.close()
        raise StoreOpenError(f"cannot use database {path}: {exc}") from exc
    return store


async def seal_plaintext_secrets(store: Store, secret_key: bytes) -> int:
    """Seal the hub.secrets stored in plaintext before `secret_key` was set; how many. Only the
    hub itself does this at start-up: a command run beside a hub started without the key must
    not seal secrets that hub then cannot open."""
    box = SecretBox(secret_key)
    sealed = await store.db.run(lambda conn: seal_plaintext(conn, box))
    if sealed:
        await store.db.checkpoint()
    return sealed


async def _check_key(db: Database, box: SecretBox) -> None:
    """Fail at start-up, not at the first delivery, when stored secrets cannot be opened."""
    row = await db.read(
        lambda conn: conn.execute(
            "SELECT secret FROM subscriptions WHERE secret IS NOT NULL "
            "UNION ALL SELECT secret FROM intents WHERE secret IS NOT NULL LIMIT 1"
        ).fetchone()
    )
    if row is not None:
        box.open(row[0])
