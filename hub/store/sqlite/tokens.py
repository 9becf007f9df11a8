"""Publisher tokens, stored only as SHA-256 digests (the tokens are 256-bit random strings)."""

from __future__ import annotations

import time

from ..records import Token
from .database import Connection, Database

__all__ = ["Tokens"]

# Every publish presents a token; a lookup is remembered this long (tokens never change once
# made, so only a row deleted by hand would be seen late). Unknown digests are never remembered.
FOUND_CACHE_SECONDS = 10.0
FOUND_CACHE_SIZE = 1024


class Tokens:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._found: dict[str, tuple[float, tuple[str, Token]]] = {}

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
        cached = self._found.get(digest)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        found = await self._lookup(digest)
        if found is not None:
            if len(self._found) >= FOUND_CACHE_SIZE:
                self._found.clear()
            self._found[digest] = (time.monotonic() + FOUND_CACHE_SECONDS, found)
        return found

    async def _lookup(self, digest: str) -> tuple[str, Token] | None:
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
