"""Publisher tokens, stored only as SHA-256 digests (the tokens are 256-bit random strings)."""

from __future__ import annotations

from .database import Connection, Database
from .records import Token

__all__ = ["Tokens"]


class Tokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, *, digest: str, scope: str, label: str | None, now: float) -> int:
        def insert(conn: Connection) -> int:
            (token_id,) = conn.execute(
                "INSERT INTO tokens (digest, scope, label, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (digest, scope, label, now),
            ).fetchone()
            return int(token_id)

        return await self._db.run(insert)

    async def find(self, digest: str) -> tuple[str, Token] | None:
        """The stored digest with its token, for the caller's constant-time comparison."""
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT id, digest, scope, label, created_at FROM tokens WHERE digest = ?",
                (digest,),
            ).fetchone()
        )
        if row is None:
            return None
        token = Token(
            id=row["id"], scope=row["scope"], label=row["label"], created_at=row["created_at"]
        )
        return row["digest"], token
