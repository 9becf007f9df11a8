"""Tokens on PostgreSQL, stored as SHA-256 digests (as `..sqlite.tokens`)."""

from __future__ import annotations

import asyncpg

from ..records import Revocation, Token
from ..token_cache import FoundTokens
from .database import Connection, PostgresDatabase

__all__ = ["Tokens"]

_COLUMNS = "id, digest, scope, label, created_at, audiences, revoked_at"


def _token(row: asyncpg.Record) -> Token:
    return Token(
        id=row["id"],
        scope=row["scope"],
        label=row["label"],
        created_at=row["created_at"],
        audiences=tuple(row["audiences"] or ()),
        revoked_at=row["revoked_at"],
    )


class Tokens:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._found = FoundTokens()

    async def add(
        self,
        *,
        digest: str,
        scope: str,
        label: str | None,
        now: float,
        audiences: tuple[str, ...] = (),
    ) -> int:
        token_id = await self._db.fetchval(
            "INSERT INTO tokens (digest, scope, label, created_at, audiences)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            digest,
            scope,
            label,
            now,
            list(audiences) if audiences else None,
        )
        return int(token_id)

    async def find(self, digest: str) -> tuple[str, Token] | None:
        """The stored digest with its token, for the caller's constant-time comparison; None for
        an unknown or revoked token (see `FoundTokens` for how long a found one is remembered)."""
        found = self._found.get(digest)
        if found is None:
            row = await self._db.fetchrow(
                f"SELECT {_COLUMNS} FROM tokens WHERE digest = $1 AND revoked_at IS NULL", digest
            )
            if row is not None:
                found = (row["digest"], _token(row))
                self._found.put(digest, found)
        return found

    async def get(self, token_id: int) -> Token | None:
        """The token with this id, revoked or not, read afresh (never from the cache)."""
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM tokens WHERE id = $1", token_id)
        return None if row is None else _token(row)

    async def listing(self) -> list[Token]:
        return [
            _token(row)
            for row in await self._db.fetch(f"SELECT {_COLUMNS} FROM tokens ORDER BY id")
        ]

    async def revoke(self, token_id: int, *, now: float) -> Revocation:
        """Stop a token working. Its subscriptions stay, and may then be taken over by another
        token whose holder verifies the callback."""

        async def update(conn: Connection) -> Revocation:
            revoked_at = await conn.fetchrow(
                "SELECT revoked_at FROM tokens WHERE id = $1 FOR UPDATE", token_id
            )
            if revoked_at is None:
                return Revocation.UNKNOWN
            if revoked_at["revoked_at"] is not None:
                return Revocation.ALREADY
            await conn.execute("UPDATE tokens SET revoked_at = $1 WHERE id = $2", now, token_id)
            return Revocation.REVOKED

        outcome = await self._db.run(update)
        self._found.forget(token_id)
        return outcome
