"""Publisher tokens, stored only as SHA-256 digests (the tokens are 256-bit random strings)."""

from __future__ import annotations

from .database import Database
from .records import Token

__all__ = ["Tokens"]


class Tokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, *, digest: str, scope: str, label: str | None, now: float) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO tokens (digest, scope, label, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (digest, scope, label, now),
            )
            (token_id,) = await cursor.fetchone()
            return int(token_id)

    async def find(self, digest: str) -> tuple[str, Token] | None:
        """The stored digest with its token, for the caller's constant-time comparison."""
        async with self._db.reading() as conn:
            cursor = await conn.execute(
                "SELECT id, digest, scope, label, created_at FROM tokens WHERE digest = ?",
                (digest,),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        token = Token(
            id=row["id"], scope=row["scope"], label=row["label"], created_at=row["created_at"]
        )
        return row["digest"], token
