"""Hub-owned topics: the latest content a publisher posted, served at /topics/{name}."""

from __future__ import annotations

from ..records import Topic
from .database import Database

__all__ = ["Topics"]


class Topics:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, *, name: str, content_type: str, content: bytes, now: float) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO topics (name, content_type, content, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "content_type = excluded.content_type, content = excluded.content, "
                "updated_at = excluded.updated_at",
                (name, content_type, content, now, now),
            )
        )

    async def get(self, name: str) -> Topic | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT name, content_type, content, updated_at FROM topics WHERE name = ?",
                (name,),
            ).fetchone()
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
        rows = await self._db.read(
            lambda conn: conn.execute("SELECT name FROM topics ORDER BY name").fetchall()
        )
        return [row["name"] for row in rows]
