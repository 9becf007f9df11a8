"""The subscriptions table on PostgreSQL: one current row per verified (topic, callback) pair.

The rules are those of `..sqlite.subscriptions`: an ended subscription is not deleted but marked
`ended_at`, without its secret, and stays while deliveries name it (ids are never reused); every
query about current subscriptions says `ended_at IS NULL`, which the partial indexes serve.
"""

from __future__ import annotations

import asyncpg

from ...sealing import SecretBox
from ..hosts import callback_host
from ..records import Subscription
from .database import Connection, PostgresDatabase

__all__ = ["Subscriptions", "cancel_pending", "event_types_of"]

_COLUMNS = (
    "id, topic, callback, secret, lease_seconds, expires_at, created_at, audience, event_types,"
    " token_id"
)
# An ended subscription's queued deliveries are closed in the same transaction (their claims
# too: an attempt under way can no longer record its outcome).
_CANCEL_PENDING = (
    "UPDATE deliveries SET state = 'cancelled', claimed_by = NULL, claim_expires = NULL,"
    " updated_at = $2 WHERE subscription_id = ANY($1::bigint[]) AND state = 'pending'"
)


def event_types_of(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _row(row: asyncpg.Record, box: SecretBox) -> Subscription:
    return Subscription(
        id=row["id"],
        topic=row["topic"],
        callback=row["callback"],
        secret=box.open(row["secret"]),
        lease_seconds=row["lease_seconds"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        audience=row["audience"],
        event_types=event_types_of(row["event_types"]),
        token_id=row["token_id"],
    )


async def cancel_pending(conn: Connection, subscription_ids: list[int], now: float) -> None:
    if subscription_ids:
        await conn.execute(_CANCEL_PENDING, subscription_ids, now)


class Subscriptions:
    def __init__(self, db: PostgresDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def activate(
        self,
        *,
        topic: str,
        callback: str,
        secret: bytes | None,
        lease_seconds: int,
        now: float,
        audience: str | None = None,
        event_types: tuple[str, ...] | None = None,
        token_id: int | None = None,
        host_key: str | None = None,
    ) -> Subscription:
        """Create or replace the (topic, callback) subscription after a verified subscribe; a
        re-subscription keeps the row id (see `..sqlite.subscriptions.Subscriptions.activate`)."""
        row = await self._db.fetchrow(
            "INSERT INTO subscriptions (topic, callback, secret, lease_seconds, expires_at,"
            " created_at, updated_at, audience, event_types, callback_host, token_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10)"
            " ON CONFLICT (topic, callback) WHERE ended_at IS NULL"
            " DO UPDATE SET secret = excluded.secret,"
            " lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at,"
            " updated_at = excluded.updated_at, audience = excluded.audience,"
            " failing_since = NULL, disabled_at = NULL, token_id = excluded.token_id,"
            " callback_host = excluded.callback_host,"
            f" event_types = excluded.event_types RETURNING {_COLUMNS}",
            topic,
            callback,
            self._box.seal(secret),
            lease_seconds,
            now + lease_seconds,
            now,
            audience,
            None if event_types is None else list(event_types),
            host_key or callback_host(callback),
            token_id,
        )
        return _row(row, self._box)

    async def remove(self, *, topic: str, callback: str, now: float) -> bool:
        """End a subscription (verified unsubscribe); its queued deliveries are cancelled."""
        return await self._end("topic = $2 AND callback = $3", (topic, callback), now) > 0

    async def remove_by_id(self, subscription_id: int, *, now: float) -> bool:
        """End a subscription by id (its callback answered 410 Gone)."""
        return await self._end("id = $2", (subscription_id,), now) > 0

    async def _end(self, where: str, params: tuple[object, ...], now: float) -> int:
        """End the current subscriptions matching `where` (its parameters from $2), cancel their
        queues; how many."""

        async def end(conn: Connection) -> int:
            rows = await conn.fetch(
                "UPDATE subscriptions SET ended_at = $1, updated_at = $1, secret = NULL"
                f" WHERE ended_at IS NULL AND {where} RETURNING id",
                now,
                *params,
            )
            await cancel_pending(conn, [row["id"] for row in rows], now)
            return len(rows)

        return await self._db.run(end)

    async def get(self, *, topic: str, callback: str) -> Subscription | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM subscriptions"
            " WHERE topic = $1 AND callback = $2 AND ended_at IS NULL",
            topic,
            callback,
        )
        return _row(row, self._box) if row else None

    async def active(self, topic: str, *, now: float) -> list[Subscription]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE topic = $1 AND expires_at > $2"
            " AND disabled_at IS NULL AND ended_at IS NULL ORDER BY id",
            topic,
            now,
        )
        return [_row(row, self._box) for row in rows]

    async def count_active(self, *, now: float) -> int:
        count = await self._db.fetchval(
            "SELECT COUNT(*) FROM subscriptions WHERE expires_at > $1 AND ended_at IS NULL", now
        )
        return int(count)

    async def count_for(
        self, *, now: float, topic: str | None = None, host: str | None = None
    ) -> int:
        """Active subscriptions of a topic, or of a callback host."""
        column, value = ("topic", topic) if topic is not None else ("callback_host", host)
        count = await self._db.fetchval(
            f"SELECT COUNT(*) FROM subscriptions WHERE {column} = $1 AND expires_at > $2"
            " AND ended_at IS NULL",
            value,
            now,
        )
        return int(count)

    async def disable_failing(self, *, failing_before: float, now: float) -> list[Subscription]:
        """Stop delivering to subscriptions that have failed continuously since before a time.

        A verified re-subscription enables them again.
        """

        async def disable(conn: Connection) -> list[asyncpg.Record]:
            rows = await conn.fetch(
                "UPDATE subscriptions SET disabled_at = $1 WHERE failing_since < $2"
                f" AND disabled_at IS NULL AND ended_at IS NULL RETURNING {_COLUMNS}",
                now,
                failing_before,
            )
            await cancel_pending(conn, [row["id"] for row in rows], now)
            return rows

        return [_row(row, self._box) for row in await self._db.run(disable)]

    async def purge_expired(self, *, now: float) -> int:
        """End subscriptions whose lease is over (WebSub §5.3.1: leases are enforced). Their
        rows go with the last delivery that names them (`Deliveries.purge_finished`)."""
        return await self._end("expires_at <= $2", (now,), now)
