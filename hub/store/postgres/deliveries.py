"""Events and their deliveries on PostgreSQL: written together, claimed as leases, settled in a
group commit (the behaviour of `..sqlite.deliveries`, statement for statement where it can be).

A delivery's life under one lease (see `claims`): claimed (`claim_due`), started just before its
POST (`start_attempts`), settled (`record_many`: only under the same lease, only while still
pending). A settlement batch is one statement whatever its size, over arrays (`unnest`), as
SQLite's are executemany calls (see `settlements`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ...sealing import SecretBox
from ..claiming import ClaimRequest
from ..records import (
    Claimed,
    DeliveryState,
    Lease,
    PublishedEvent,
    PublishRequest,
    RequeueReport,
    Settlement,
    WorkKind,
)
from ..rows import due_delivery
from ..shortcuts import PublishShortcuts
from ..signals import WorkSignal
from .claims import claim, start
from .database import Connection, PostgresDatabase, rows_changed
from .events import publish_all
from .settlements import settle
from .wakeups import Notices

__all__ = ["PURGE_STATEMENTS", "Deliveries"]


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


class Deliveries(PublishShortcuts):
    def __init__(
        self, db: PostgresDatabase, box: SecretBox, signal: WorkSignal, notices: Notices
    ) -> None:
        self._db = db
        self._box = box
        self._signal = signal
        self._notices = notices

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
            place=self._notices.place,
        )
        rows, newest = await self._db.run(lambda conn: claim(conn, request), durable=False)
        return Claimed([due_delivery(row, self._box, owner) for row in rows], newest)

    async def start_attempts(
        self, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
    ) -> list[bool]:
        """For each (delivery, lease), whether its attempt may be sent now; the leases of those
        that may are extended by `ttl` (see `claims.start`)."""
        if not starts:
            return []
        return await start(self._db, starts, now=now, ttl=ttl)

    async def record_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record attempts and new states in ONE transaction (a group commit); for each
        settlement, whether it landed (only under the lease that claimed it, while pending)."""
        if not settlements:
            return []
        return await settle(self._db, settlements)

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
