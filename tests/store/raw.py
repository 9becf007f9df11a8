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


async def change(database: DatabaseLocation, sql: str, *params: object) -> None:
    """Run one writing statement from outside, as an operator with sqlite3 or psql would (or
    an older sethub, whose rows a test needs)."""
    if isinstance(database, PostgresURL):
        await postgres_query(database, sql, *params)
    else:
        await asyncio.to_thread(_sqlite_change, database, sql, params)


def _sqlite_change(path: Path, sql: str, params: tuple[object, ...]) -> None:
    conn = sqlite3.connect(path, timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()
