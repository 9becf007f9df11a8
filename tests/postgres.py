"""A real PostgreSQL server for the tests: one fresh database per test run, a schema per test.

The server is SETHUB_TEST_POSTGRES (default: this machine's, postgresql://postgres@127.0.0.1:5432/
test, trust auth). A run creates `sethub_test_<random>` there and drops it at the end; each test
that asks gets a schema of its own in it (`search_path` in the URL it is given), so tests never see
each other's rows, and creating one costs a few milliseconds. Without a server the PostgreSQL tests
skip with one line saying why; under CI (CI=true) they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

from hub.database_url import PostgresURL

SERVER_VARIABLE = "SETHUB_TEST_POSTGRES"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 5.0
# Tests never crash the server, so its commits need not wait for the disk: the same statements
# run, a few milliseconds faster each.
TEST_SERVER_SETTINGS = {"synchronous_commit": "off"}


class ServerMissing(RuntimeError):
    """No PostgreSQL server answers at the configured address."""


def server_url() -> str:
    return os.environ.get(SERVER_VARIABLE, DEFAULT_SERVER)


def required() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _with_database(url: str, database: str, **settings: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}", query=urlencode(settings)))


def run_sync(coroutine: Any) -> Any:
    """Run a coroutine to completion on a loop of its own, in a thread: callable from sync
    fixtures whatever loop the test framework keeps for the tests."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class PostgresForTests:
    server: str  # the admin URL: the server's own database, where the run's is created
    database: str

    @classmethod
    def create(cls) -> PostgresForTests:
        server = server_url()
        database = f"sethub_test_{secrets.token_hex(4)}"

        async def create() -> None:
            try:
                conn = await asyncpg.connect(server, timeout=CONNECT_TIMEOUT)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                raise ServerMissing(f"no PostgreSQL at {PostgresURL(server)}: {exc}") from exc
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            finally:
                await conn.close()

        run_sync(create())
        return cls(server, database)

    def url(self, schema: str | None = None) -> PostgresURL:
        settings = dict(TEST_SERVER_SETTINGS)
        if schema is not None:
            settings["search_path"] = schema
        return PostgresURL(_with_database(self.server, self.database, **settings))

    async def new_schema(self) -> PostgresURL:
        """A URL whose tables live in a new, empty schema of the run's database."""
        schema = f"t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self.url().dsn, timeout=CONNECT_TIMEOUT)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
        return self.url(schema)

    def drop(self) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(self.server, timeout=CONNECT_TIMEOUT)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await conn.close()

        run_sync(drop())


async def query(url: PostgresURL, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read a hub's PostgreSQL database from outside, as an operator would with psql. `sql` is
    written with `?` placeholders, as for SQLite, so one test text serves both."""
    numbered = sql
    for number in range(1, len(params) + 1):
        numbered = numbered.replace("?", f"${number}", 1)
    conn = await asyncpg.connect(url.dsn, timeout=CONNECT_TIMEOUT)
    try:
        return [tuple(row) for row in await conn.fetch(numbered, *params)]
    finally:
        await conn.close()
