"""SET signing keys on PostgreSQL: one key set that every node of the hub signs with.

Private keys are sealed with the hub's secret key (`hub.sealing`, as hub.secrets are): a copy of
the database, a backup or a replica does not give away the keys. Without a secret key the keys
can be neither stored nor read, so every method but `generation` refuses with
`SecretKeyRequired`, naming how to give one.

The one row of `signing_key_set` holds the generation, raised by every change in the same
transaction, so a node sees a rotation by reading one integer. Creating the first set takes a
transaction-scoped advisory lock and finds the row already there if another node was first:
nodes starting together on an empty database create exactly one key set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...sealing import SEALED, SealingError, SecretBox
from ..errors import KeySetChanged, SecretKeyRequired
from ..records import SigningKeyRecord, SigningKeys
from .database import Connection, PostgresDatabase

__all__ = ["NEEDS_SEALING", "PostgresSigningKeys"]

NEEDS_SEALING = (
    "signing keys are kept in the database, sealed with the hub's secret key, and none was given:"
    " give every node the same key with --secret-key-file FILE or SETHUB_SECRET_KEY (base64 of"
    " 32 random bytes)"
)
# Per schema, like the migrations' lock: hubs in schemas of their own do not wait on each other.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sethub signing keys ' || current_schema()))"
_COLUMNS = "kid, alg, state, created_at, activate_at, public_jwk, private_key"


class PostgresSigningKeys:
    def __init__(self, db: PostgresDatabase, secret_key: bytes | None) -> None:
        self._db = db
        self._box = SecretBox(secret_key) if secret_key is not None else None

    def _sealing(self) -> SecretBox:
        if self._box is None:
            raise SecretKeyRequired(NEEDS_SEALING)
        return self._box

    async def generation(self) -> int:
        value = await self._db.fetchval("SELECT generation FROM signing_key_set WHERE id = 1")
        return int(value or 0)

    async def load(self) -> SigningKeys:
        box = self._sealing()
        return await self._db.read(lambda conn: _read(conn, box))

    async def create(self, keys: Sequence[SigningKeyRecord]) -> tuple[SigningKeys, bool]:
        box = self._sealing()

        async def work(conn: Connection) -> tuple[SigningKeys, bool]:
            await conn.execute(_LOCK)
            if await conn.fetchval("SELECT generation FROM signing_key_set WHERE id = 1"):
                return await _read(conn, box), False
            await _write(conn, box, keys, generation=1)
            return await _read(conn, box), True

        return await self._db.run(work)

    async def replace(self, keys: Sequence[SigningKeyRecord], *, generation: int) -> SigningKeys:
        box = self._sealing()

        async def work(conn: Connection) -> SigningKeys:
            await conn.execute(_LOCK)
            current = await conn.fetchval(
                "SELECT generation FROM signing_key_set WHERE id = 1 FOR UPDATE"
            )
            if int(current or 0) != generation:
                raise KeySetChanged(
                    "the signing keys changed while this change was being made: run it again"
                )
            await _write(conn, box, keys, generation=generation + 1)
            return await _read(conn, box)

        return await self._db.run(work)


async def _write(
    conn: Connection, box: SecretBox, keys: Sequence[SigningKeyRecord], *, generation: int
) -> None:
    """Make the table hold exactly `keys` and record `generation`. A key already stored keeps
    its sealed private part (it never changes); only its state and activation move."""
    kids = [key.kid for key in keys]
    await conn.execute("DELETE FROM signing_keys WHERE NOT (kid = ANY($1::text[]))", kids)
    stored = {row["kid"] for row in await conn.fetch("SELECT kid FROM signing_keys")}
    await conn.executemany(
        "UPDATE signing_keys SET state = $2, activate_at = $3 WHERE kid = $1",
        [(key.kid, key.state, key.activate_at) for key in keys if key.kid in stored],
    )
    await conn.executemany(
        f"INSERT INTO signing_keys ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                key.kid,
                key.alg,
                key.state,
                key.created_at,
                key.activate_at,
                key.public_jwk,
                box.seal(key.private_pem),
            )
            for key in keys
            if key.kid not in stored
        ],
    )
    await conn.execute(
        "INSERT INTO signing_key_set (id, generation, updated_at)"
        " VALUES (1, $1, extract(epoch FROM clock_timestamp()))"
        " ON CONFLICT (id) DO UPDATE SET generation = excluded.generation,"
        " updated_at = excluded.updated_at",
        generation,
    )


async def _read(conn: Connection, box: SecretBox) -> SigningKeys:
    generation = await conn.fetchval("SELECT generation FROM signing_key_set WHERE id = 1")
    if not generation:
        return SigningKeys(generation=0)
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM signing_keys ORDER BY created_at, kid")
    return SigningKeys(generation=int(generation), keys=tuple(_record(row, box) for row in rows))


def _record(row: Any, box: SecretBox) -> SigningKeyRecord:
    sealed: bytes = row["private_key"]
    if sealed[:1] != SEALED:  # never written otherwise: someone put a key here by hand
        raise SealingError(f"signing key {row['kid']} is not sealed")
    try:
        pem = box.open(sealed)
    except SealingError as exc:
        raise SealingError(
            "the secret key does not open the signing keys in the database: give every node"
            " the key the first node started with"
        ) from exc
    return SigningKeyRecord(
        kid=row["kid"],
        alg=row["alg"],
        state=row["state"],
        created_at=row["created_at"],
        activate_at=row["activate_at"],
        public_jwk=row["public_jwk"],
        private_pem=pem or b"",
    )
