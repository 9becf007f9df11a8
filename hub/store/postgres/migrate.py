"""Applying the numbered migrations (`..migrations`) to a PostgreSQL database.

The applied ones are rows of `schema_migrations`. Every pending migration is applied in one
transaction holding an advisory lock, so nodes that start together on a new database migrate it
once: the second waits for the first, then finds nothing left to do.
"""

from __future__ import annotations

import asyncpg

from ..errors import StoreOpenError
from ..migrations import pending
from ..migrations import status as schema_status
from ..records import SchemaStatus
from .database import Connection, PostgresDatabase

__all__ = ["migrate", "schema_status_of"]

# The lock is per schema: databases with several hubs in schemas of their own do not wait on
# each other.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sethub migrations ' || current_schema()))"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, applied_at double precision NOT NULL)"
)


async def _version(conn: Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def schema_status_of(db: PostgresDatabase) -> SchemaStatus:
    return schema_status(await db.read(_version))


async def migrate(db: PostgresDatabase) -> list[int]:
    """Apply what is pending, in one transaction; the numbers applied."""

    async def work(conn: Connection) -> list[int]:
        await conn.execute(_LOCK)
        await conn.execute(_TABLE)
        applied = []
        for migration in pending(await _version(conn), database=str(db.url)):
            await conn.execute(migration.postgres)
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at)"
                " VALUES ($1, extract(epoch FROM clock_timestamp()))",
                migration.number,
            )
            applied.append(migration.number)
        return applied

    try:
        return await db.run(work)
    except asyncpg.PostgresError as exc:  # a permission, a missing schema: say which
        raise StoreOpenError(f"cannot migrate database {db.url}: {exc}") from exc
