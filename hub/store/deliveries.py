"""Events and their deliveries: written together, claimed as leases, settled one write each."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .database import Database
from .records import DeliveryState, DueDelivery, PublishedEvent
from .subscriptions import cancel_pending

__all__ = ["Attempt", "Deliveries"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt did, recorded with the state change it causes."""

    started_at: float
    duration: float
    outcome: str
    status: int | None = None
    error: str | None = None


class Deliveries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(
        self, *, topic: str, content_type: str, body: bytes, now: float
    ) -> PublishedEvent:
        """Store the event and one delivery per active subscription in ONE transaction.

        Two statements whatever the number of subscribers: the fan-out is an INSERT ... SELECT.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO events (topic, content_type, body, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (topic, content_type, body, now),
            )
            (event_id,) = await cursor.fetchone()
            cursor = await conn.execute(
                "INSERT INTO deliveries "
                "(event_id, subscription_id, next_attempt_at, created_at, updated_at) "
                "SELECT ?, id, ?, ?, ? FROM subscriptions WHERE topic = ? AND expires_at > ?",
                (event_id, now, now, now, topic, now),
            )
            return PublishedEvent(id=event_id, topic=topic, deliveries=cursor.rowcount)

    async def claim_due(
        self,
        *,
        owner: str,
        now: float,
        ttl: float,
        limit: int,
        per_subscription: int,
        busy_subscriptions: Iterable[int] = (),
    ) -> list[DueDelivery]:
        """Lease due deliveries, at most `per_subscription` per subscription, skipping busy ones.

        Deliveries whose subscription has ended or expired are cancelled instead of returned.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE deliveries SET claimed_by = ?, claim_expires = ? WHERE id IN ("
                " SELECT id FROM ("
                "  SELECT id, next_attempt_at, ROW_NUMBER() OVER ("
                "   PARTITION BY subscription_id ORDER BY next_attempt_at, id) AS rank"
                "  FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
                "  AND (claim_expires IS NULL OR claim_expires <= ?)"
                "  AND subscription_id NOT IN (SELECT value FROM json_each(?))"
                " ) WHERE rank <= ? ORDER BY next_attempt_at, id LIMIT ?"
                ") RETURNING id",
                (
                    owner,
                    now + ttl,
                    now,
                    now,
                    json.dumps(list(busy_subscriptions)),
                    per_subscription,
                    limit,
                ),
            )
            ids = [row["id"] for row in await cursor.fetchall()]
            if not ids:
                return []
            cursor = await conn.execute(
                "SELECT d.id, d.event_id, d.subscription_id, d.attempts, s.topic, s.callback,"
                " s.secret, s.expires_at, e.content_type, e.created_at,"
                " COALESCE(d.body, e.body) AS body "
                "FROM deliveries d JOIN events e ON e.id = d.event_id "
                "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
                "WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.next_attempt_at, d.id",
                (json.dumps(ids),),
            )
            due: list[DueDelivery] = []
            for row in await cursor.fetchall():
                if row["callback"] is None or row["expires_at"] <= now:
                    await cancel_pending(conn, row["subscription_id"], now)
                    continue
                due.append(
                    DueDelivery(
                        id=row["id"],
                        event_id=row["event_id"],
                        subscription_id=row["subscription_id"],
                        attempts=row["attempts"],
                        topic=row["topic"],
                        callback=row["callback"],
                        secret=row["secret"],
                        content_type=row["content_type"],
                        body=row["body"],
                        event_created_at=row["created_at"],
                    )
                )
            return due

    async def settle(
        self,
        delivery_id: int,
        attempt: Attempt,
        *,
        state: DeliveryState,
        next_attempt_at: float | None = None,
    ) -> None:
        """Record an attempt and the delivery's new state in one durable write.

        `state` PENDING with `next_attempt_at` schedules a retry; DELIVERED and DEAD are final.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, state = ?,"
                " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL,"
                " claim_expires = NULL, last_status = ?, last_error = ?, updated_at = ? "
                "WHERE id = ? RETURNING attempts",
                (
                    str(state),
                    next_attempt_at,
                    attempt.status,
                    attempt.error,
                    attempt.started_at + attempt.duration,
                    delivery_id,
                ),
            )
            row = await cursor.fetchone()
            if row is None:
                return
            await conn.execute(
                "INSERT INTO delivery_attempts "
                "(delivery_id, attempt, started_at, duration, status, error, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    row["attempts"],
                    attempt.started_at,
                    attempt.duration,
                    attempt.status,
                    attempt.error,
                    attempt.outcome,
                ),
            )

    async def release_claims(self) -> None:
        """Single-node start-up: claims left by a killed process are released at once."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET claimed_by = NULL, claim_expires = NULL "
                "WHERE state = 'pending' AND claimed_by IS NOT NULL"
            )

    async def counts(self) -> dict[str, int]:
        async with self._db.reading() as conn:
            cursor = await conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
            found = {row[0]: int(row[1]) for row in await cursor.fetchall()}
        return {str(state): found.get(str(state), 0) for state in DeliveryState}

    async def next_due_at(self) -> float | None:
        async with self._db.reading() as conn:
            cursor = await conn.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
            )
            (value,) = await cursor.fetchone()
            return value

    async def purge_finished(self, *, older_than: float) -> int:
        """After the retention period, forget finished deliveries and events nobody waits for."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled') "
                "AND updated_at < ?",
                (older_than,),
            )
            removed = cursor.rowcount
            await conn.execute(
                "DELETE FROM events WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                (older_than,),
            )
            return removed
