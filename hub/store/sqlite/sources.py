"""Inbound sources: identity providers whose native webhooks `POST /ingest/NAME` accepts.

The secret that authenticates a source's webhooks is sealed at rest like hub.secrets (the same
`SecretBox`): without an operator key it is stored as given, with one it is encrypted.
"""

from __future__ import annotations

import json
import sqlite3

from ...sealing import SecretBox
from ..errors import SourceExists
from ..records import Source
from .database import Connection, Database

__all__ = ["Sources"]


class Sources:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def add(self, source: Source) -> None:
        sealed = self._box.seal(source.secret)
        options = json.dumps(dict(source.options), sort_keys=True)

        def insert(conn: Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO sources (name, vendor, secret, options, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (source.name, source.vendor, sealed, options, source.created_at),
                )
            except sqlite3.IntegrityError as exc:
                raise SourceExists(f"a source named {source.name!r} already exists") from exc

        await self._db.run(insert)

    async def get(self, name: str) -> Source | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT name, vendor, secret, options, created_at FROM sources WHERE name = ?",
                (name,),
            ).fetchone()
        )
        return None if row is None else self._source(row)

    async def listing(self) -> list[Source]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT name, vendor, secret, options, created_at FROM sources ORDER BY name"
            ).fetchall()
        )
        return [self._source(row) for row in rows]

    async def remove(self, name: str) -> bool:
        def delete(conn: Connection) -> bool:
            return conn.execute("DELETE FROM sources WHERE name = ?", (name,)).rowcount > 0

        return await self._db.run(delete)

    def _source(self, row: sqlite3.Row) -> Source:
        secret = self._box.open(row["secret"])
        return Source(
            name=row["name"],
            vendor=row["vendor"],
            secret=secret or b"",
            options=json.loads(row["options"]),
            created_at=row["created_at"],
        )
