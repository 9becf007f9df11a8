"""Inbound sources on PostgreSQL (see `..sqlite.sources`): secrets sealed at rest alike."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from ...sealing import SecretBox
from ..errors import SourceExists
from ..records import Source
from .database import Connection, PostgresDatabase

__all__ = ["Sources"]

_COLUMNS = "name, vendor, secret, options, created_at"


class Sources:
    def __init__(self, db: PostgresDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def add(self, source: Source) -> None:
        sealed = self._box.seal(source.secret)
        options = json.dumps(dict(source.options), sort_keys=True)

        async def insert(conn: Connection) -> None:
            try:
                await conn.execute(
                    "INSERT INTO sources (name, vendor, secret, options, created_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    source.name,
                    source.vendor,
                    sealed,
                    options,
                    source.created_at,
                )
            except asyncpg.UniqueViolationError as exc:
                raise SourceExists(f"a source named {source.name!r} already exists") from exc

        await self._db.run(insert)

    async def get(self, name: str) -> Source | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM sources WHERE name = $1", name)
        return None if row is None else self._source(row)

    async def listing(self) -> list[Source]:
        rows = await self._db.fetch(f'SELECT {_COLUMNS} FROM sources ORDER BY name COLLATE "C"')
        return [self._source(row) for row in rows]

    async def remove(self, name: str) -> bool:
        status = await self._db.execute("DELETE FROM sources WHERE name = $1", name)
        return status != "DELETE 0"

    def _source(self, row: Any) -> Source:
        return Source(
            name=row["name"],
            vendor=row["vendor"],
            secret=self._box.open(row["secret"]) or b"",
            options=json.loads(row["options"]),
            created_at=row["created_at"],
        )
