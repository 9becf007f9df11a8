"""Durable state of the hub, behind one interface (`interface.Store`) with two backends.

`open_store(where)` picks the backend from where the database is: a `postgresql://` (or
`postgres://`) URL opens PostgreSQL (`postgres/`, for one or several hub nodes), anything else is
the path of a SQLite file (`sqlite/`, the embedded default). Every unit of work (a verification,
a delivery) is claimed as a lease with an owner and an expiry (a delivery's also with a
generation, which fences its writes: `Lease`), so the same shapes serve one process on a file and
several nodes on one database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..database_url import DatabaseLocation, PostgresURL, parse_database
from ..sealing import SealingError
from .errors import (
    KeySetChanged,
    SecretKeyRequired,
    SourceExists,
    StoreError,
    StoreHealth,
    StoreOpenError,
    StoreUnavailableError,
)
from .interface import SigningKeysRepository, Store
from .records import (
    Attempt,
    Claimed,
    DeliveryState,
    DueDelivery,
    EventKind,
    Intent,
    IntentMode,
    Lease,
    NewEvent,
    PublishedEvent,
    PublishRequest,
    RequeueReport,
    Revocation,
    SchemaStatus,
    Settlement,
    SigningKeyRecord,
    SigningKeys,
    Source,
    Subscription,
    Token,
    Topic,
    WorkKind,
)
from .sqlite.store import DEFAULT_BUSY_TIMEOUT, open_sqlite_store

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "Attempt",
    "Claimed",
    "DeliveryState",
    "DueDelivery",
    "EventKind",
    "Intent",
    "IntentMode",
    "KeySetChanged",
    "Lease",
    "NewEvent",
    "PublishRequest",
    "PublishedEvent",
    "RequeueReport",
    "Revocation",
    "SchemaStatus",
    "SealingError",
    "SecretKeyRequired",
    "Settlement",
    "SigningKeyRecord",
    "SigningKeys",
    "SigningKeysRepository",
    "Source",
    "SourceExists",
    "Store",
    "StoreError",
    "StoreHealth",
    "StoreOpenError",
    "StoreUnavailableError",
    "Subscription",
    "Token",
    "Topic",
    "WorkKind",
    "open_store",
    "seal_plaintext_secrets",
]


async def open_store(
    where: DatabaseLocation | str,
    *,
    secret_key: bytes | None = None,
    max_bytes: int = 0,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    clock: Callable[[], float] = time.time,
    migrate: bool = True,
) -> Store:
    """Open the database at `where` (a path or a PostgreSQL URL), bringing its schema up to date
    unless `migrate` is False (then only `schema_status` and `migrate` may be used: a database
    whose schema is behind the code cannot serve). `secret_key` seals hub.secrets at rest.
    `max_bytes` and `busy_timeout` are SQLite's (PostgreSQL has its own quotas and locks);
    `clock` times the store's health."""
    location = parse_database(where)
    if isinstance(location, PostgresURL):
        from .postgres.store import open_postgres_store  # asyncpg is loaded only when used

        return await open_postgres_store(
            location, secret_key=secret_key, clock=clock, migrate=migrate
        )
    return await open_sqlite_store(
        Path(location),
        secret_key=secret_key,
        max_bytes=max_bytes,
        busy_timeout=busy_timeout,
        clock=clock,
        migrate=migrate,
    )


async def seal_plaintext_secrets(store: Store, secret_key: bytes) -> int:
    """Seal the hub.secrets stored in plaintext before `secret_key` was set; how many. Only the
    hub itself does this at start-up: a command run beside a hub started without the key must
    not seal secrets that hub then cannot open."""
    return await store.seal_plaintext_secrets(secret_key)
