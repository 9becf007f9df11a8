"""The hub's database as a maintenance command opens it: the one `serve` uses, never a new one.

`tokens` and `deliveries` work on the database file directly. Opening a path that does not exist
would create an empty database and report success on it (a token the hub never sees, no dead
letters), so these commands refuse it and say how to point them at the right file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..config import Settings
from ..store import Store, StoreOpenError, open_store

__all__ = ["open_existing_store"]


async def open_existing_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store at `settings.db`, opened with the hub's secret key; StoreOpenError if absent.
    (A PostgreSQL database is never created by opening it: a wrong URL fails to connect.)
    `migrate=False` leaves its schema as it is (see `open_store`)."""
    if isinstance(settings.db, Path) and not await asyncio.to_thread(settings.db.is_file):
        raise StoreOpenError(f"no database at {settings.db}: start the hub once, or pass --db")
    return await open_store(settings.db, secret_key=settings.secret_key_bytes, migrate=migrate)
