"""Reading a store's tables from outside, on either backend, as an operator would: the tests
check what was stored, not only what the store answers."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from hub.database_url import DatabaseLocation, PostgresURL

from ..postgres import query as postgres_query


async def rows(database: DatabaseLocation, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of `sql` (with `?` placeholders) as tuples; bytes as bytes on both backends."""
    if isinstance(database, PostgresURL):
        return await postgres_query(database, sql, *params)
    return await asyncio.to_thread(_sqlite_rows, database, sql, params)


def _sqlite_rows(path: Path, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()
