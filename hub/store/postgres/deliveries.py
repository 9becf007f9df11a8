"""Events and their deliveries on PostgreSQL: written together, claimed as leases, settled in a
group commit (the behaviour of `..sqlite.deliveries`, statement for statement where it can be).

A delivery's life under one lease (see `claims`): claimed (`claim_due`), started just before its
POST (`start_attempts`), settled (`record_many`: only under the same lease, only while still
pending). A settlement batch is a fixed number of statements whatever its size, each over arrays
(`unnest`), as SQLite's are executemany calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from ...sealing import SecretBox
from ..claiming import ClaimRequest
from ..records import (
    Claimed,
    DeliveryState,
    DueDelivery,
    EventKind,
    Lease,
    NewEvent,
    PublishedEvent,
    PublishRequest,
    RequeueReport,
    Settlement,
    WorkKind,
)
from ..signals import WorkSignal
from .claims import claim, start
from .database import Connection, PostgresDatabase, rows_changed
from .events import publish_all
from .wakeups import Notices

__all__ = ["PURGE_STATEMENTS", "Deliveries"]

DELIVERED = DeliveryState.DELIVERED

# The janitor's purge, as on SQLite (`..sqlite.deliveries.PURGE_STATEMENTS`): each walks an
# index to the rows it may remove (migrations 4 and 8).
PURGE_STATEMENTS = (
    "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled') AND updated_at < $1",
    "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS"
    " (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
    "DELETE FROM subscriptions WHERE ended_at < $1 AND NOT EXISTS"
    " (SELECT 1 FROM deliveries d WHERE d.subscription_id = subscriptions.id)",
    "DELETE FROM idempotency_keys WHERE created_at < $1",
)

# The holders of the deliveries being settled, locked in id order (settlements and starts lock
# in the same order, so they never wait on each other in a circle).
_HOLDERS = (
    "SELECT id, claimed_by, claim_generation FROM deliveries"
    " WHERE id = ANY($1::bigint[]) AND state = 'pending' ORDER BY id FOR UPDATE"
)
_SETTLE = (
    "UPDATE deliveries d SET attempts = d.attempts + 1, state = u.state,"
    " next_attempt_at = COALESCE(u.next_attempt_at, d.next_attempt_at), claimed_by = NULL,"
    " claim_expires = NULL, last_status = u.status, last_error = u.error,"
    " rejection = u.rejection, body = COALESCE(d.body, u.body), updated_at = u.updated_at"
    " FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::text[],"
    " $7::bytea[], $8::float8[], $9::text[], $10::int[])"
    " AS u(id, state, next_attempt_at, status, error, rejection, body, updated_at, owner,"
    " generation)"
    " WHERE d.id = u.id AND d.state = 'pending' AND d.claimed_by = u.owner"
    " AND d.claim_generation = u.generation"
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


async def _settle_all(conn: Connection, settlements: Sequence[Settlement]) -> list[bool]:
    """Which settlements landed: those whose delivery is still pending under their lease (one
    per delivery). At most five statements for the whole batch, whatever its size."""
    rows = await conn.fetch(_HOLDERS, sorted({s.delivery_id for s in settlements}))
    holders = {row["id"]: Lease(row["claimed_by"], row["claim_generation"]) for row in rows}
    landing: list[Settlement] = []
    for settlement in settlements:
        if holders.get(settlement.delivery_id) == settlement.lease:
            del holders[settlement.delivery_id]  # a second outcome for it in the batch: not this
            landing.append(settlement)
    if landing:
        await _apply(conn, landing)
    landed = {id(s) for s in landing}
    return [id(s) in landed for s in settlements]


async def _apply(conn: Connection, settlements: Sequence[Settlement]) -> None:
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
        [s.lease.owner for s in settlements],
        [s.lease.generation for s in settlements],
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
    def __init__(
        self, db: PostgresDatabase, box: SecretBox, signal: WorkSignal, notices: Notices
    ) -> None:
        self._db = db
        self._box = box
        self._signal = signal
        self._notices = notices

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
        (see `events.publish_all`). Other nodes hear of new deliveries at the commit."""

        async def publish(conn: Connection) -> list[tuple[list[PublishedEvent], bool]]:
            answers = await publish_all(conn, requests)
            if any(event.deliveries for events, _ in answers for event in events):
                await self._notices.send(conn, WorkKind.DELIVERIES)
            return answers

        answers = await self._db.run(publish)
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
        exclude: Iterable[int] = (),
        newer_than: int | None = None,
    ) -> Claimed:
        """Lease due deliveries (see `..sqlite.deliveries.Deliveries.claim_due`), passing over
        those another node is claiming right now. Deliveries whose subscription has ended,
        expired or been disabled are cancelled instead of returned."""
        request = ClaimRequest(
            owner=owner,
            now=now,
            ttl=ttl,
            limit=limit,
            per_subscription=per_subscription,
            held=held or {},
            busy=list(busy_subscriptions),
            exclude=list(exclude),
            newer_than=newer_than,
        )
        rows, newest = await self._db.run(lambda conn: claim(conn, request), durable=False)
        return Claimed([self._due(row, owner) for row in rows], newest)

    def _due(self, row: asyncpg.Record, owner: str) -> DueDelivery:
        return DueDelivery(
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
            lease=Lease(owner, row["claim_generation"]),
            kind=EventKind(row["kind"]),
            rendered=bool(row["rendered"]),
            audience=row["audience"],
            jti=row["jti"],
        )

    async def start_attempts(
        self, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
    ) -> list[bool]:
        """For each (delivery, lease), whether its attempt may be sent now; the leases of those
        that may are extended by `ttl` (see `claims.start`). Not waiting for the WAL flush: a
        lease lost in a server crash only delays the delivery until it expires."""
        if not starts:
            return []
        return await self._db.run(lambda conn: start(conn, starts, now=now, ttl=ttl), durable=False)

    async def record_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record attempts and new states in ONE transaction (a group commit); for each
        settlement, whether it landed (only under the lease that claimed it, while pending)."""
        if not settlements:
            return []
        return await self._db.run(lambda conn: _settle_all(conn, settlements))

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

    async def requeue(self, ids: Sequence[int] | None, *, now: float) -> RequeueReport:
        """Give dead deliveries a fresh retry budget (all of them when `ids` is None), but only
        those whose subscription is still the current, enabled one. A re-queued identity
        delivery is signed again at its next attempt, with its jti (see the SQLite form)."""

        async def requeue(conn: Connection) -> RequeueReport:
            query = (
                "SELECT d.id, d.state, s.id IS NOT NULL AND s.ended_at IS NULL"
                " AND s.expires_at > $1 AS current, s.disabled_at IS NOT NULL AS disabled"
                " FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id"
            )
            if ids is None:
                found = await conn.fetch(query + " WHERE d.state = 'dead' ORDER BY d.id", now)
            else:
                found = await conn.fetch(query + " WHERE d.id = ANY($2::bigint[])", now, list(ids))
            rows = {row["id"]: row for row in found}
            report = RequeueReport([], [], [], [], {})
            for delivery_id in rows if ids is None else dict.fromkeys(ids):
                row = rows.get(delivery_id)
                if row is None:
                    report.unknown.append(delivery_id)
                elif row["state"] != DeliveryState.DEAD:
                    report.not_dead[delivery_id] = DeliveryState(row["state"])
                elif not row["current"]:
                    report.ended.append(delivery_id)
                elif row["disabled"]:
                    report.disabled.append(delivery_id)
                else:
                    report.requeued.append(delivery_id)
            await conn.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1,"
                " claimed_by = NULL, claim_expires = NULL, updated_at = $1,"
                " body = CASE WHEN jti IS NULL THEN body END"
                " WHERE state = 'dead' AND id = ANY($2::bigint[])",
                now,
                report.requeued,
            )
            if report.requeued:
                await self._notices.send(conn, WorkKind.DELIVERIES)
            return report

        report = await self._db.run(requeue)
        if report.requeued:
            self._signal.fire(WorkKind.DELIVERIES)
        return report

    async def counts(self) -> dict[str, int]:
        """Deliveries per state, from the counts the schema's triggers keep (migration 6): a few
        rows read, whatever the size of the table."""
        rows = await self._db.fetch("SELECT state, SUM(n) AS n FROM delivery_counts GROUP BY state")
        found = {row["state"]: int(row["n"]) for row in rows}
        return {str(state): found.get(str(state), 0) for state in DeliveryState}

    async def next_due_at(self) -> float | None:
        return await self._db.fetchval(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )

    async def purge_finished(self, *, older_than: float) -> int:
        """After the retention period, forget finished deliveries, the events nobody waits for
        and the ended subscriptions no delivery names any more."""

        async def purge(conn: Connection) -> int:
            deliveries, *the_rest = PURGE_STATEMENTS
            removed = rows_changed(await conn.execute(deliveries, older_than))
            for statement in the_rest:
                await conn.execute(statement, older_than)
            return removed

        return await self._db.run(purge)
