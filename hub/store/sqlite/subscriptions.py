"""The subscriptions table: one current row per verified (topic, callback) pair.

A subscription that ends (unsubscribed, answered 410, lease over) is not deleted: its row is
marked `ended_at`, loses its secret, and stays while deliveries name it, so that a delivery
always belongs to the one subscription it was made for (ids are never reused; see migration 4).
Every query about current subscriptions says `ended_at IS NULL`, which is also what lets SQLite
use the partial indexes on them.
"""

from __future__ import annotations

import json
import sqlite3

from ...sealing import SecretBox
from ..hosts import callback_host
from ..records import DeliveryState, Subscription
from .database import Connection, Database

__all__ = ["Subscriptions", "callback_host", "decode_types", "encode_types"]

_COLUMNS = (
    "id, topic, callback, secret, lease_seconds, expires_at, created_at, audience, event_types,"
    " token_id"
)


def encode_types(event_types: tuple[str, ...] | None) -> str | None:
    return None if event_types is None else json.dumps(list(event_types))


def decode_types(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


def _row(row: sqlite3.Row, box: SecretBox) -> Subscription:
    return Subscription(
        id=row["id"],
        topic=row["topic"],
        callback=row["callback"],
        secret=box.open(row["secret"]),
        lease_seconds=row["lease_seconds"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        audience=row["audience"],
        event_types=decode_types(row["event_types"]),
        token_id=row["token_id"],
    )


def cancel_pending(conn: Connection, subscription_id: int, now: float) -> None:
    """An ended subscription's queued deliveries are closed in the same transaction (their
    claims too: an attempt under way can no longer record its outcome)."""
    conn.execute(
        "UPDATE deliveries SET state = ?, claimed_by = NULL, claim_expires = NULL, updated_at = ? "
        "WHERE subscription_id = ? AND state = ?",
        (DeliveryState.CANCELLED, now, subscription_id, DeliveryState.PENDING),
    )


def _end(conn: Connection, where: str, params: tuple[object, ...], now: float) -> list[int]:
    """End the current subscriptions matching `where`, cancel their queues; their ids."""
    ended = [
        row["id"]
        for row in conn.execute(
            "UPDATE subscriptions SET ended_at = ?, updated_at = ?, secret = NULL "
            f"WHERE ended_at IS NULL AND {where} RETURNING id",
            (now, now, *params),
        ).fetchall()
    ]
    for subscription_id in ended:
        cancel_pending(conn, subscription_id, now)
    return ended


class Subscriptions:
    def __init__(self, db: Database, box: SecretBox) -> None:
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
        """Create or replace the (topic, callback) subscription after a verified subscribe.

        A re-subscription keeps the row id, so deliveries already queued for it still go out, and
        takes the new secret (or none) and the new lease, as WebSub §5.1 asks. A subscription
        that has ended is not revived: subscribing again makes a new one, with a new id.
        `token_id` is the subscriber token that now owns it; `host_key` the key of the per-host
        cap (by default the callback's host name).
        """
        values = (
            topic,
            callback,
            self._box.seal(secret),
            lease_seconds,
            now + lease_seconds,
            now,
            now,
            audience,
            encode_types(event_types),
            host_key or callback_host(callback),
            token_id,
        )
        row = await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO subscriptions (topic, callback, secret, lease_seconds, expires_at,"
                " created_at, updated_at, audience, event_types, callback_host, token_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (topic, callback) WHERE ended_at IS NULL "
                "DO UPDATE SET secret = excluded.secret, "
                "lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at, "
                "updated_at = excluded.updated_at, audience = excluded.audience, "
                "failing_since = NULL, disabled_at = NULL, token_id = excluded.token_id, "
                "callback_host = excluded.callback_host, "
                f"event_types = excluded.event_types RETURNING {_COLUMNS}",
                values,
            ).fetchone()
        )
        return _row(row, self._box)

    async def remove(self, *, topic: str, callback: str, now: float) -> bool:
        """End a subscription (verified unsubscribe); its queued deliveries are cancelled."""
        return bool(
            await self._db.run(
                lambda conn: _end(conn, "topic = ? AND callback = ?", (topic, callback), now)
            )
        )

    async def remove_by_id(self, subscription_id: int, *, now: float) -> bool:
        """End a subscription by id (its callback answered 410 Gone)."""
        return bool(await self._db.run(lambda conn: _end(conn, "id = ?", (subscription_id,), now)))

    async def get(self, *, topic: str, callback: str) -> Subscription | None:
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM subscriptions"
                " WHERE topic = ? AND callback = ? AND ended_at IS NULL",
                (topic, callback),
            ).fetchone()
        )
        return _row(row, self._box) if row else None

    async def active(self, topic: str, *, now: float) -> list[Subscription]:
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE topic = ? AND expires_at > ? "
                "AND disabled_at IS NULL AND ended_at IS NULL ORDER BY id",
                (topic, now),
            ).fetchall()
        )
        return [_row(row, self._box) for row in rows]

    async def count_active(self, *, now: float) -> int:
        (count,) = await self._db.read(
            lambda conn: conn.execute(
                "SELECT COUNT(*) FROM subscriptions WHERE expires_at > ? AND ended_at IS NULL",
                (now,),
            ).fetchone()
        )
        return int(count)

    async def count_for(
        self, *, now: float, topic: str | None = None, host: str | None = None
    ) -> int:
        """Active subscriptions of a topic, or of a callback host."""
        column, value = ("topic", topic) if topic is not None else ("callback_host", host)
        (count,) = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT COUNT(*) FROM subscriptions WHERE {column} = ? AND expires_at > ?"
                " AND ended_at IS NULL",
                (value, now),
            ).fetchone()
        )
        return int(count)

    async def disable_failing(self, *, failing_before: float, now: float) -> list[Subscription]:
        """Stop delivering to subscriptions that have failed continuously since before a time.

        A verified re-subscription enables them again.
        """

        def disable(conn: Connection) -> list[sqlite3.Row]:
            rows = conn.execute(
                "UPDATE subscriptions SET disabled_at = ? WHERE failing_since < ?"
                f" AND disabled_at IS NULL AND ended_at IS NULL RETURNING {_COLUMNS}",
                (now, failing_before),
            ).fetchall()
            for row in rows:
                cancel_pending(conn, row["id"], now)
            return rows

        return [_row(row, self._box) for row in await self._db.run(disable)]

    async def purge_expired(self, *, now: float) -> int:
        """End subscriptions whose lease is over (WebSub §5.3.1: leases are enforced). Their
        rows go with the last delivery that names them (`Deliveries.purge_finished`)."""
        return len(await self._db.run(lambda conn: _end(conn, "expires_at <= ?", (now,), now)))
