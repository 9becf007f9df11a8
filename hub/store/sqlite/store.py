"""The SQLite store: the repositories over one database file, used by this process alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...sealing import SealingError, SecretBox
from ..errors import StoreHealth, StoreOpenError
from ..interface import WorkListener
from ..records import SchemaStatus
from ..signals import WorkSignal
from .database import DEFAULT_BUSY_TIMEOUT, Database
from .deliveries import Deliveries
from .intents import Intents
from .plaintext_secrets import seal_plaintext
from .sources import Sources
from .subscriptions import Subscriptions
from .tokens import Tokens
from .topics import Topics

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SqliteStore", "open_sqlite_store"]


@dataclass(frozen=True)
class SqliteStore:
    db: Database = field(repr=False)
    subscriptions: Subscriptions
    intents: Intents
    deliveries: Deliveries
    topics: Topics
    tokens: Tokens
    sources: Sources
    signal: WorkSignal = field(repr=False)

    @property
    def health(self) -> StoreHealth:
        """Whether writes succeed, from the store's own writes: no query, answered at once."""
        return self.db.health

    @property
    def shared(self) -> bool:
        return False  # one process writes a SQLite file: this one

    @property
    def signing_keys(self) -> None:
        """None: a SQLite hub keeps its signing keys in its --keys-dir (see `hub.signing`)."""
        return None

    async def release_claims(self) -> None:
        """Release every claim: this process is the database's one user, so a claim found at
        start-up is one a killed predecessor left."""
        await self.intents.release_claims()
        await self.deliveries.release_claims()

    async def seal_plaintext_secrets(self, secret_key: bytes) -> int:
        box = SecretBox(secret_key)
        sealed = await self.db.run(lambda conn: seal_plaintext(conn, box))
        if sealed:
            await self.db.checkpoint()
        return sealed

    def on_work_stored(self, listener: WorkListener) -> None:
        self.signal.connect(listener)

    async def sweeps_here(self) -> bool:
        return True  # the file's one user sweeps it

    async def schema_status(self) -> SchemaStatus:
        return await self.db.schema_status()

    async def migrate(self) -> list[int]:
        return await self.db.migrate()

    async def close(self) -> None:
        await self.db.close()


async def open_sqlite_store(
    path: Path,
    *,
    secret_key: bytes | None = None,
    max_bytes: int = 0,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    clock: Callable[[], float] = time.time,
    migrate: bool = True,
) -> SqliteStore:
    """Open (creating and, unless told not to, migrating) the file; `secret_key` seals
    hub.secrets at rest."""
    db = await Database.open(
        path, max_bytes=max_bytes, busy_timeout=busy_timeout, clock=clock, migrate=migrate
    )
    box = SecretBox(secret_key)
    signal = WorkSignal()
    store = SqliteStore(
        db=db,
        subscriptions=Subscriptions(db, box),
        intents=Intents(db, box, signal),
        deliveries=Deliveries(db, box, signal),
        topics=Topics(db),
        tokens=Tokens(db),
        sources=Sources(db, box),
        signal=signal,
    )
    if migrate:
        try:
            await _check_key(db, box)
        except SealingError as exc:
            await db.close()
            raise StoreOpenError(f"cannot use database {path}: {exc}") from exc
    return store


async def _check_key(db: Database, box: SecretBox) -> None:
    """Fail at start-up, not at the first delivery, when stored secrets cannot be opened."""
    row = await db.read(
        lambda conn: conn.execute(
            "SELECT secret FROM subscriptions WHERE secret IS NOT NULL "
            "UNION ALL SELECT secret FROM intents WHERE secret IS NOT NULL "
            "UNION ALL SELECT secret FROM sources LIMIT 1"
        ).fetchone()
    )
    if row is not None:
        box.open(row[0])
