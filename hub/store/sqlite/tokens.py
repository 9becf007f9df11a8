"""Publisher and subscriber tokens, stored only as SHA-256 digests (the tokens are 256-bit random
strings), with the audiences a subscriber may ask for, and revocation."""

from __future__ import annotations

import json
import sqlite3

from ..records import Revocation, Token
from ..token_cache import FoundTokens
from .database import Connection, Database

__all__ = ["Tokens"]

_COLUMNS = "id, digest, scope, label, created_at, audiences, revoked_at"


def _token(row: sqlite3.Row) -> Token:
    return Token(
        id=row["id"],
        scope=row["scope"],
        label=row["label"],
        created_at=row["created_at"],
        audiences=tuple(json.loads(row["audiences"])) if row["audiences"] else (),
        revoked_at=row["revoked_at"],
    )


class Tokens:
    def __init__(self, db: Database) -> None:
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
        listed = json.dumps(list(audiences)) if audiences else None

        def insert(conn: Connection) -> int:
            (token_id,) = conn.execute(
                "INSERT INTO tokens (digest, scope, label, created_at, audiences) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (digest, scope, label, now, listed),
            ).fetchone()
            return int(token_id)

        return await self._db.run(insert)

    async def find(self, digest: str) -> tuple[str, Token] | None:
        """The stored digest with its token, for the caller's constant-time comparison; None for
        an unknown or revoked token (see `FoundTokens` for how long a found one is remembered)."""
        found = self._found.get(digest)
        if found is None:
            found = await self._lookup(digest)
            if found is not None:
                self._found.put(digest, found)
        return found

    async def _lookup(self, digest: str) -> tuple[str, Token] | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE digest = ? AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
        )
        return None if row is None else (row["digest"], _token(row))

    async def get(self, token_id: int) -> Token | None:
        """The token with this id, revoked or not, read afresh (never from the cache)."""
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)
            ).fetchone()
        )
        return None if row is None else _token(row)

    async def listing(self) -> list[Token]:
        rows = await self._db.read(
            lambda conn: conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY id").fetchall()
        )
        return [_token(row) for row in rows]

    async def revoke(self, token_id: int, *, now: float) -> Revocation:
        """Stop a token working. Its subscriptions stay, and may then be taken over by another
        token whose holder verifies the callback."""

        def update(conn: Connection) -> Revocation:
            row = conn.execute(
                "SELECT revoked_at FROM tokens WHERE id = ?", (token_id,)
            ).fetchone()
            if row is None:
                return Revocation.UNKNOWN
            if row["revoked_at"] is not None:
                return Revocation.ALREADY
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (now, token_id))
            return Revocation.REVOKED

        outcome = await self._db.run(update)
        self._found.forget(token_id)
        return outcome
