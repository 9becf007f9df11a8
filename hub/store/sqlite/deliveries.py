"""Events and their deliveries: written together, claimed as leases, settled one write each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ...sealing import SecretBox
from ..records import DeliveryState, DueDelivery, EventKind, NewEvent, PublishedEvent
from .database import Connection, Database
from .events import PublishRequest, publish_all
from .subscriptions import cancel_pending

# A claim reads this many candidates per delivery it may take, so that a few subscriptions with
# long backlogs at the head of the queue leave room for the others in the same claim.
CLAIM_SCAN_FACTOR = 4

__all__ = ["Attempt", "Deliveries", "Settlement"]


@dataclass(frozen=True, slots=True)
class Settlement:
    """A delivery's new state after an attempt; see `Deliveries.record_many`.

    `body`: the SET rendered for this attempt, kept (if none is yet) so that a retry resends
    exactly it.
    """

    delivery_id: int
    subscription_id: int
    attempt: Attempt
    state: DeliveryState
    next_attempt_at: float | None = None
    rejection: str | None = None
    body: bytes | None = None


DELIVERED = DeliveryState.DELIVERED


def _settle_all(conn: Connection, settlements: Sequence[Settlement]) -> None:
    """Four statements for the whole batch, whatever its size (each run with executemany)."""
    conn.executemany(
        "UPDATE deliveries SET attempts = attempts + 1, state = ?,"
        " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL,"
        " claim_expires = NULL, last_status = ?, last_error = ?, rejection = ?,"
        " body = COALESCE(body, ?), updated_at = ? WHERE id = ?",
        [
            (
                str(s.state),
                s.next_attempt_at,
                s.attempt.status,
                s.attempt.error,
                s.rejection,
                s.body,
                s.attempt.started_at + s.attempt.duration,
                s.delivery_id,
            )
            for s in settlements
        ],
    )
    conn.executemany(
        "INSERT INTO delivery_attempts "
        "(delivery_id, attempt, started_at, duration, status, error, outcome) "
        "SELECT id, attempts, ?, ?, ?, ?, ? FROM deliveries WHERE id = ?",
        [
            (
                s.attempt.started_at,
                s.attempt.duration,
                s.attempt.status,
                s.attempt.error,
                s.attempt.outcome,
                s.delivery_id,
            )
            for s in settlements
        ],
    )
    # A success ends a run of failures; a failure starts one if none is running. Within one
    # batch the failures are applied last: a subscription that both failed and succeeded in the
    # same few milliseconds is taken to be failing until its next success.
    conn.executemany(
        "UPDATE subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL",
        [(sid,) for sid in {s.subscription_id for s in settlements if s.state is DELIVERED}],
    )
    conn.executemany(
        "UPDATE subscriptions SET failing_since = ? WHERE id = ? AND failing_since IS NULL",
        [
            (s.attempt.started_at, s.subscription_id)
            for s in settlements
            if s.state is not DELIVERED
        ],
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt did, recorded with the state change it causes."""

    started_at: float
    duration: float
    outcome: str
    status: int | None = None
    error: str | None = None


def _fair_share(
    candidates: Iterable[sqlite3.Row],
    *,
    limit: int,
    per_subscription: int,
    held: Mapping[int, int],
) -> list[int]:
    """The oldest due deliveries, up to `per_subscription` claims per subscription counting those
    it `held` already: one subscription's backlog cannot fill a claim while others wait.

    Reading stops once the rows of subscriptions already served outnumber what was taken by
    CLAIM_SCAN_FACTOR: further on there is mostly more of the same. (Reading the whole scan
    limit cost ~7 ms a claim with 10 subscriptions and a 15,000-delivery backlog.)"""
    taken: dict[int, int] = {}
    ids: list[int] = []
    skipped = 0
    for delivery_id, subscription_id in candidates:
        count = taken.get(subscription_id)
        if count is None:
            count = taken[subscription_id] = held.get(subscription_id, 0)
        if count < per_subscription:
            taken[subscription_id] = count + 1
            ids.append(delivery_id)
            if len(ids) == limit:
                break
        else:
            skipped += 1
            if skipped > CLAIM_SCAN_FACTOR * per_subscription * len(taken):
                break
    return ids


class Deliveries:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def publish(
        self, *, topic: str, content_type: str, body: bytes, now: float
    ) -> PublishedEvent:
        """Store one content event and its deliveries (see `publish_batch`)."""
        published, _ = await self.publish_batch(
            [NewEvent(topic=topic, content_type=content_type, body=body)], now=now
        )
        return published[0]

    async def publish_batch(
        self,
        events: Sequence[NewEvent],
        *,
        now: float,
        idempotency_key: str | None = None,
        idempotency_window: float = 0.0,
    ) -> tuple[list[PublishedEvent], bool]:
        """Store events and one delivery per matching active subscription in ONE transaction."""
        (result,) = await self.publish_requests(
            [PublishRequest(tuple(events), now, idempotency_key, idempotency_window)]
        )
        return result

    async def publish_requests(
        self, requests: Sequence[PublishRequest]
    ) -> list[tuple[list[PublishedEvent], bool]]:
        """Several publish requests in ONE transaction (a group commit), each answered apart.

        A fixed number of statements for all the requests' events, whatever the number of events
        and subscribers (see `events.publish_all`). A key seen within the window (the request's,
        or an event's own) writes nothing and answers what the first request got; the flag says
        the whole answer is a replay.
        """
        return await self._db.run(lambda conn: publish_all(conn, requests))

    async def claim_due(
        self,
        *,
        owner: str,
        now: float,
        ttl: float,
        limit: int,
        per_subscription: int,
        held: Mapping[int, int] | None = None,
        busy_subscriptions: Iterable[int] = (),
    ) -> list[DueDelivery]:
        """Lease due deliveries, skipping busy subscriptions; a subscription ends up with at most
        `per_subscription`, counting the claims it already `held`.

        Deliveries whose subscription has ended or expired are cancelled instead of returned.
        """
        busy = json.dumps(list(busy_subscriptions))

        def claim(conn: Connection) -> list[sqlite3.Row]:
            candidates = conn.execute(
                "SELECT id, subscription_id FROM deliveries INDEXED BY deliveries_due"
                " WHERE state = 'pending' AND next_attempt_at <= ?"
                " AND (claim_expires IS NULL OR claim_expires <= ?)"
                " AND subscription_id NOT IN (SELECT value FROM json_each(?))"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (now, now, busy, limit * CLAIM_SCAN_FACTOR),
            )  # read lazily: _fair_share stops reading once the claim is full
            ids = _fair_share(
                candidates, limit=limit, per_subscription=per_subscription, held=held or {}
            )
            candidates.close()  # it may stop early: finish the statement before writing
            if not ids:
                return []
            id_list = json.dumps(ids)
            conn.execute(
                "UPDATE deliveries SET claimed_by = ?, claim_expires = ?"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (owner, now + ttl, id_list),
            )
            rows = conn.execute(
                "SELECT d.id, d.event_id, d.subscription_id, d.attempts, s.topic, s.callback,"
                " s.secret, s.expires_at, s.disabled_at, s.audience, e.content_type,"
                " e.created_at, e.kind, d.jti,"
                " d.body IS NOT NULL OR e.kind = 'content' AS rendered,"
                " COALESCE(d.body, e.body) AS body "
                "FROM deliveries d JOIN events e ON e.id = d.event_id "
                "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
                "WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.next_attempt_at, d.id",
                (id_list,),
            ).fetchall()
            live = []
            for row in rows:
                if row["callback"] is None or row["expires_at"] <= now or row["disabled_at"]:
                    cancel_pending(conn, row["subscription_id"], now)
                else:
                    live.append(row)
            return live

        return [
            DueDelivery(
                id=row["id"],
                event_id=row["event_id"],
                subscription_id=row["subscription_id"],
                attempts=row["attempts"],
                topic=row["topic"],
                callback=row["callback"],
                secret=self._box.open(row["secret"]),
                content_type=row["content_type"],
                body=row["body"],
                event_created_at=row["created_at"],
                kind=EventKind(row["kind"]),
                rendered=bool(row["rendered"]),
                audience=row["audience"],
                jti=row["jti"],
            )
            for row in await self._db.run(claim, durable=False)
        ]

    async def record_many(self, settlements: Sequence[Settlement]) -> None:
        """Record attempts and new states in ONE transaction (a group commit: one fsync for many
        deliveries). A settlement to PENDING with `next_attempt_at` schedules a retry;
        DELIVERED, DEAD and CANCELLED are final."""
        await self._db.run(lambda conn: _settle_all(conn, settlements))

    async def listing(self, *, state: DeliveryState, limit: int = 100) -> list[dict[str, object]]:
        """Deliveries in a state, newest first, for operators (no bodies, no secrets)."""
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT d.id, d.event_id, d.subscription_id, d.state, d.attempts, d.last_status,"
                " d.last_error, d.rejection, d.updated_at, s.callback, e.topic "
                "FROM deliveries d JOIN events e ON e.id = d.event_id "
                "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
                "WHERE d.state = ? ORDER BY d.updated_at DESC, d.id DESC LIMIT ?",
                (str(state), limit),
            ).fetchall()
        )
        return [dict(row) for row in rows]

    async def requeue(self, ids: Sequence[int] | None, *, now: float) -> int:
        """Give dead deliveries a fresh retry budget (all of them when `ids` is None)."""
        query = (
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?,"
            " claimed_by = NULL, claim_expires = NULL, updated_at = ? WHERE state = 'dead'"
        )
        params: tuple[object, ...] = (now, now)
        if ids is not None:
            query += " AND id IN (SELECT value FROM json_each(?))"
            params += (json.dumps(list(ids)),)
        return await self._db.run(lambda conn: conn.execute(query, params).rowcount)

    async def release_claims(self) -> None:
        """Single-node start-up: claims left by a killed process are released at once."""
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE deliveries SET claimed_by = NULL, claim_expires = NULL "
                "WHERE state = 'pending' AND claimed_by IS NOT NULL"
            )
        )

    async def counts(self) -> dict[str, int]:
        """Deliveries per state, from the counts the schema's triggers keep up to date: a few
        rows read, whatever the size of the table (operators' endpoints call this)."""
        rows = await self._db.read(
            lambda conn: conn.execute("SELECT state, n FROM delivery_counts").fetchall()
        )
        found = {row[0]: int(row[1]) for row in rows}
        return {str(state): found.get(str(state), 0) for state in DeliveryState}

    async def next_due_at(self) -> float | None:
        (value,) = await self._db.read(
            lambda conn: conn.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        )
        return value

    async def purge_finished(self, *, older_than: float) -> int:
        """After the retention period, forget finished deliveries and events nobody waits for."""

        def purge(conn: Connection) -> int:
            removed = conn.execute(
                "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled') "
                "AND updated_at < ?",
                (older_than,),
            ).rowcount
            conn.execute(
                "DELETE FROM events WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                (older_than,),
            )
            conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (older_than,))
            return removed

        return await self._db.run(purge)
