"""The PostgreSQL store: the repositories over one database that several hub nodes may share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...database_url import PostgresURL
from ...sealing import PLAIN, SealingError, SecretBox
from ..errors import StoreHealth, StoreOpenError, StoreUnavailableError
from ..interface import WorkListener as Listener
from ..records import SchemaStatus
from ..signals import WorkSignal
from .database import Connection, PostgresDatabase
from .deliveries import Deliveries
from .intents import Intents
from .keys import PostgresSigningKeys
from .migrate import migrate, schema_status_of
from .sources import Sources
from .subscriptions import Subscriptions
from .sweeps import SweepTurn
from .tokens import Tokens
from .topics import Topics
from .wakeups import Notices, WorkListener, channel_for

__all__ = ["PostgresStore", "open_postgres_store"]

# (table, key column) of every table that holds a sealed secret
TABLES_WITH_SECRETS = (("subscriptions", "id"), ("intents", "id"), ("sources", "name"))


@dataclass(frozen=True)
class PostgresStore:
    db: PostgresDatabase = field(repr=False)
    subscriptions: Subscriptions
    intents: Intents
    deliveries: Deliveries
    topics: Topics
    tokens: Tokens
    sources: Sources
    signing_keys: PostgresSigningKeys
    signal: WorkSignal = field(repr=False)
    hearing: WorkListener = field(repr=False)  # other nodes' new work, once someone listens
    sweeps: SweepTurn = field(repr=False)

    @property
    def health(self) -> StoreHealth:
        return self.db.health

    @property
    def shared(self) -> bool:
        return True  # other hub nodes may hold claims on this database right now

    async def release_claims(self) -> None:
        """Nothing: another node may hold any claim found here, and is working on it. A dead
        node's claims expire after their ttl, and the work is claimed again then."""

    async def seal_plaintext_secrets(self, secret_key: bytes) -> int:
        """Seal in place the secrets stored without a key. The old row versions stay in the
        table's pages until VACUUM reclaims them and new rows overwrite them: PostgreSQL has no
        secure delete. (A database that held plaintext secrets should be treated as exposed.)"""
        box = SecretBox(secret_key)

        async def seal(conn: Connection) -> int:
            sealed = 0
            for table, key in TABLES_WITH_SECRETS:
                rows = await conn.fetch(
                    f"SELECT {key} AS key, secret FROM {table}"
                    " WHERE substr(secret, 1, 1) = $1 FOR UPDATE",
                    PLAIN,
                )
                await conn.executemany(
                    f"UPDATE {table} SET secret = $1 WHERE {key} = $2",
                    [(box.seal(box.open(row["secret"])), row["key"]) for row in rows],
                )
                sealed += len(rows)
            return sealed

        return await self.db.run(seal)

    def on_work_stored(self, listener: Listener) -> None:
        """Also starts hearing the other nodes' notifications, once: only a hub listens, not
        the one-off commands that open the store."""
        self.signal.connect(listener)
        self.hearing.start()

    async def sweeps_here(self) -> bool:
        return await self.sweeps.mine()

    async def schema_status(self) -> SchemaStatus:
        return await schema_status_of(self.db)

    async def migrate(self) -> list[int]:
        return await migrate(self.db)

    async def close(self) -> None:
        await self.hearing.close()
        await self.sweeps.close()
        await self.db.close()


async def open_postgres_store(
    url: PostgresURL,
    *,
    secret_key: bytes | None = None,
    clock: Callable[[], float] = time.time,
    migrate: bool = True,
) -> PostgresStore:
    """Connect and, unless told not to, migrate; StoreOpenError says why it cannot."""
    db = await PostgresDatabase.open(url, clock=clock)
    try:  # the schema names the channel the nodes of this hub wake each other on
        schema = await db.fetchval("SELECT COALESCE(current_schema(), '')")
    except StoreUnavailableError as exc:
        await db.close()
        raise StoreOpenError(f"cannot use database {url}: {exc}") from exc
    box = SecretBox(secret_key)
    signal = WorkSignal()
    notices = Notices(channel_for(schema))
    store = PostgresStore(
        db=db,
        subscriptions=Subscriptions(db, box),
        intents=Intents(db, box, signal, notices),
        deliveries=Deliveries(db, box, signal, notices),
        topics=Topics(db),
        tokens=Tokens(db),
        sources=Sources(db, box),
        signing_keys=PostgresSigningKeys(db, secret_key),
        signal=signal,
        hearing=WorkListener(url.dsn, notices, signal),
        sweeps=SweepTurn(url.dsn),
    )
    if migrate:
        try:
            await store.migrate()
            await _check_key(db, box)
        except (SealingError, StoreUnavailableError) as exc:
            await db.close()
            raise StoreOpenError(f"cannot use database {url}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
    return store


async def _check_key(db: PostgresDatabase, box: SecretBox) -> None:
    """Fail at start-up, not at the first delivery, when stored secrets cannot be opened."""
    secret = await db.fetchval(
        "SELECT secret FROM subscriptions WHERE secret IS NOT NULL"
        " UNION ALL SELECT secret FROM intents WHERE secret IS NOT NULL"
        " UNION ALL SELECT secret FROM sources LIMIT 1"
    )
    if secret is not None:
        box.open(secret)
