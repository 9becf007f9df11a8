"""Events and their deliveries on PostgreSQL: written together, claimed as leases, settled in a
group commit (the behaviour of `..sqlite.deliveries`, statement for statement where it can be).

A claim locks its candidates with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once take
different deliveries instead of waiting on each other; the candidates it does not take are
unlocked at its commit. A settlement batch is four statements whatever its size, each over arrays
(`unnest`), as SQLite's is four executemany calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from ...sealing import SecretBox
from ..fair_share import CLAIM_SCAN_FACTOR, fair_share
from ..records import (
    DeliveryState,
    DueDelivery,
    EventKind,
    NewEvent,
    PublishedEvent,
    PublishRequest,
    Settlement,
    WorkKind,
)
from ..signals import WorkSignal
from .database import Connection, PostgresDatabase, rows_changed
from .events import publish_all
from .subscriptions import cancel_pending

__all__ = ["Deliveries"]

DELIVERED = DeliveryState.DELIVERED

_CANDIDATES = (
    "SELECT id, subscription_id FROM deliveries"
    " WHERE state = 'pending' AND next_attempt_at <= $1"
    " AND (claim_expires IS NULL OR claim_expires <= $1)"
    " AND subscription_id <> ALL($2::bigint[])"
    " ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED"
)
_LEASE = (
    "WITH claimed AS ("
    " UPDATE deliveries SET claimed_by = $1, claim_expires = $2 WHERE id = ANY($3::bigint[])"
    " RETURNING id, event_id, subscription_id, attempts, next_attempt_at, jti, body)"
    " SELECT c.id, c.event_id, c.subscription_id, c.attempts, s.topic, s.callback, s.secret,"
    " s.expires_at, s.disabled_at, s.audience, e.content_type, e.created_at, e.kind, c.jti,"
    " c.body IS NOT NULL OR e.kind = 'content' AS rendered, COALESCE(c.body, e.body) AS body"
    " FROM claimed c JOIN events e ON e.id = c.event_id"
    " LEFT JOIN subscriptions s ON s.id = c.subscription_id"
    " ORDER BY c.next_attempt_at, c.id"
)
_SETTLE = (
    "UPDATE deliveries d SET attempts = d.attempts + 1, state = u.state,"
    " next_attempt_at = COALESCE(u.next_attempt_at, d.next_attempt_at), claimed_by = NULL,"
    " claim_expires = NULL, last_status = u.status, last_error = u.error,"
    " rejection = u.rejection, body = COALESCE(d.body, u.body), updated_at = u.updated_at"
    " FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::text[],"
    " $7::bytea[], $8::float8[])"
    " AS u(id, state, next_attempt_at, status, error, rejection, body, updated_at)"
    " WHERE d.id = u.id"
)
_RECORD_ATTEMPTS = (
    "INSERT INTO delivery_attempts"
    " (delivery_id, attempt, started_at, duration, status, error, outcome)"
    " SELECT d.id, d.attempts, u.started_at, u.duration, u.status, u.error, u.outcome"
    " FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::int[], $5::text[], $6::text[])"
    " WITH ORDINALITY AS u(id, started_at, duration, status, error, outcome, n)"
    " JOIN deliveries d ON d.id = u.id ORDER BY u.n"
)
# A success ends a run of failures; a failure starts one if none is running. Within one batch the
# failures are applied last, and the first failure of a subscription in the batch starts its run.
_SUCCEEDED = (
    "UPDATE subscriptions SET failing_since = NULL"
    " WHERE id = ANY($1::bigint[]) AND failing_since IS NOT NULL"
)
_FAILED = (
    "UPDATE subscriptions s SET failing_since = f.started_at FROM ("
    " SELECT DISTINCT ON (sid) sid, started_at"
    " FROM unnest($1::bigint[], $2::float8[]) WITH ORDINALITY AS u(sid, started_at, n)"
    " ORDER BY sid, n) AS f"
    " WHERE s.id = f.sid AND s.failing_since IS NULL"
)


async def _settle_all(conn: Connection, settlements: Sequence[Settlement]) -> None:
    """Four statements for the whole batch, whatever its size."""
    await conn.execute(
        _SETTLE,
        [s.delivery_id for s in settlements],
        [str(s.state) for s in settlements],
        [s.next_attempt_at for s in settlements],
        [s.attempt.status for s in settlements],
        [s.attempt.error for s in settlements],
        [s.rejection for s in settlements],
        [s.body for s in settlements],
        [s.attempt.started_at + s.attempt.duration for s in settlements],
    )
    await conn.execute(
        _RECORD_ATTEMPTS,
        [s.delivery_id for s in settlements],
        [s.attempt.started_at for s in settlements],
        [s.attempt.duration for s in settlements],
        [s.attempt.status for s in settlements],
        [s.attempt.error for s in settlements],
        [s.attempt.outcome for s in settlements],
    )
    succeeded = sorted({s.subscription_id for s in settlements if s.state is DELIVERED})
    if succeeded:
        await conn.execute(_SUCCEEDED, succeeded)
    failed = [s for s in settlements if s.state is not DELIVERED]
    if failed:
        await conn.execute(
            _FAILED, [s.subscription_id for s in failed], [s.attempt.started_at for s in failed]
        )


class Deliveries:
    def __init__(self, db: PostgresDatabase, box: SecretBox, signal: WorkSignal) -> None:
        self._db = db
        self._box = box
        self._signal = signal

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
        """Several publish requests in ONE transaction (a group commit), each answered apart
        (see `events.publish_all`)."""
        answers = await self._db.run(lambda conn: publish_all(conn, requests))
        if any(event.deliveries for events, _ in answers for event in events):
            self._signal.fire(WorkKind.DELIVERIES)
        return answers

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
        """Lease due deliveries, skipping busy subscriptions and those another node is claiming
        right now; a subscription ends up with at most `per_subscription`, counting the claims
        it already `held`. Deliveries whose subscription has ended or expired are cancelled."""
        busy = list(busy_subscriptions)

        async def claim(conn: Connection) -> list[asyncpg.Record]:
            candidates = await conn.fetch(_CANDIDATES, now, busy, limit * CLAIM_SCAN_FACTOR)
            ids = fair_share(
                ((row["id"], row["subscription_id"]) for row in candidates),
                limit=limit,
                per_subscription=per_subscription,
                held=held or {},
            )
            if not ids:
                return []
            rows = await conn.fetch(_LEASE, owner, now + ttl, ids)
            live, ended = [], set()
            for row in rows:
                if row["callback"] is None or row["expires_at"] <= now or row["disabled_at"]:
                    ended.add(row["subscription_id"])
                else:
                    live.append(row)
            await cancel_pending(conn, sorted(ended), now)
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
        """Record attempts and new states in ONE transaction (a group commit)."""
        if settlements:
            await self._db.run(lambda conn: _settle_all(conn, settlements))

    async def listing(self, *, state: DeliveryState, limit: int = 100) -> list[dict[str, object]]:
        """Deliveries in a state, newest first, for operators (no bodies, no secrets)."""
        rows = await self._db.fetch(
            "SELECT d.id, d.event_id, d.subscription_id, d.state, d.attempts, d.last_status,"
            " d.last_error, d.rejection, d.updated_at, s.callback, e.topic"
            " FROM deliveries d JOIN events e ON e.id = d.event_id"
            " LEFT JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE d.state = $1 ORDER BY d.updated_at DESC, d.id DESC LIMIT $2",
            str(state),
            limit,
        )
        return [dict(row) for row in rows]

    async def requeue(self, ids: Sequence[int] | None, *, now: float) -> int:
        """Give dead deliveries a fresh retry budget (all of them when `ids` is None)."""
        query = (
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1,"
            " claimed_by = NULL, claim_expires = NULL, updated_at = $1 WHERE state = 'dead'"
        )
        if ids is None:
            status = await self._db.execute(query, now)
        else:
            status = await self._db.execute(query + " AND id = ANY($2::bigint[])", now, list(ids))
        count = rows_changed(status)
        if count:
            self._signal.fire(WorkKind.DELIVERIES)
        return count

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
        found = {row["state"]: int(row["n"]) for row in rows}
        return {str(state): found.get(str(state), 0) for state in DeliveryState}

    async def next_due_at(self) -> float | None:
        return await self._db.fetchval(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )

    async def purge_finished(self, *, older_than: float) -> int:
        """After the retention period, forget finished deliveries and events nobody waits for."""

        async def purge(conn: Connection) -> int:
            removed = rows_changed(
                await conn.execute(
                    "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled')"
                    " AND updated_at < $1",
                    older_than,
                )
            )
            await conn.execute(
                "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS"
                " (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                older_than,
            )
            await conn.execute("DELETE FROM idempotency_keys WHERE created_at < $1", older_than)
            return removed

        return await self._db.run(purge)
