"""Reading a store's tables from outside, on either backend, as an operator would: the tests
check what was stored, not only what the store answers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from hub.database_url import DatabaseLocation, PostgresURL

from ..postgres import CONNECT_TIMEOUT
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


async def wide_reads(
    database: DatabaseLocation, sql: str, *params: object, limit: int = 10
) -> list[str]:
    """The steps of running `sql` (in the database's own placeholders) that read a table, or an
    index, whole. SQLite: the SCAN steps of its EXPLAIN QUERY PLAN. PostgreSQL: `sql` is run
    under EXPLAIN ANALYZE and rolled back, with sequential scans, hash and merge joins priced
    out (on a test's few rows the planner would read whole tables whatever their indexes), and
    a step is wide when it read more than `limit` rows, counting those its filter threw away:
    an index can be read from end to end too."""
    if isinstance(database, PostgresURL):
        conn = await asyncpg.connect(database.dsn, timeout=CONNECT_TIMEOUT)
        try:
            await conn.execute(
                "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off"
            )
            transaction = conn.transaction()
            await transaction.start()
            try:
                explained = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *params)
            finally:
                await transaction.rollback()
        finally:
            await conn.close()
        (plan,) = json.loads(explained)
        return list(_postgres_wide_reads(plan["Plan"], limit))
    found = await asyncio.to_thread(_sqlite_rows, database, "EXPLAIN QUERY PLAN " + sql, params)
    return [row[3] for row in found if row[3].startswith("SCAN ")]


def _postgres_wide_reads(node: dict[str, Any], limit: int) -> Iterator[str]:
    kind = node["Node Type"]
    if kind.endswith("Scan"):
        read = node["Actual Loops"] * (
            node["Actual Rows"]
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
        if kind == "Seq Scan" or read > limit:
            where = node.get("Index Name") or node.get("Relation Name")
            yield f"{kind} on {where}: {read} rows"
    for child in node.get("Plans", ()):
        yield from _postgres_wide_reads(child, limit)
