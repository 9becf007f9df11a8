"""Hub-owned topics on PostgreSQL: the latest content a publisher posted (see `..sqlite.topics`)."""

from __future__ import annotations

from ..records import Topic
from .database import PostgresDatabase

__all__ = ["Topics"]


class Topics:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def put(self, *, name: str, content_type: str, content: bytes, now: float) -> None:
        await self._db.execute(
            "INSERT INTO topics (name, content_type, content, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE SET"
            " content_type = excluded.content_type, content = excluded.content,"
            " updated_at = excluded.updated_at",
            name,
            content_type,
            content,
            now,
        )

    async def get(self, name: str) -> Topic | None:
        row = await self._db.fetchrow(
            "SELECT name, content_type, content, updated_at FROM topics WHERE name = $1", name
        )
        if row is None:
            return None
        return Topic(
            name=row["name"],
            content_type=row["content_type"],
            content=row["content"],
            updated_at=row["updated_at"],
        )

    async def names(self) -> list[str]:
        rows = await self._db.fetch('SELECT name FROM topics ORDER BY name COLLATE "C"')
        return [row["name"] for row in rows]
