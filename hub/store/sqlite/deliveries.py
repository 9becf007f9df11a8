"""Events and their deliveries: written together, claimed as leases, settled one write each.

A delivery's life under one lease (see `claims`): claimed (`claim_due`), started just before its
POST (`start_attempts`: the lease still holds, the subscription is still the same active one),
settled (`record_many`: only under the same lease, only while still pending). A cancelled
delivery is never revived, and a late outcome of an expired claim changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from ...sealing import SecretBox
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
from .claims import ClaimRequest, claim, start
from .database import Connection, Database
from .events import publish_all

__all__ = ["PURGE_STATEMENTS", "Deliveries"]


DELIVERED = DeliveryState.DELIVERED

# The janitor's purge after the retention period, in order, each with the one parameter: what
# is older than that. The first counts as "removed". Each walks an index to the rows it may
# remove (migrations 4 and 8), never a whole table: the sweep runs on the store's only thread.
PURGE_STATEMENTS = (
    "DELETE FROM deliveries WHERE state IN ('delivered', 'cancelled') AND updated_at < ?",
    "DELETE FROM events WHERE created_at < ? AND NOT EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
    "DELETE FROM subscriptions WHERE ended_at < ? AND NOT EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.subscription_id = subscriptions.id)",
    "DELETE FROM idempotency_keys WHERE created_at < ?",
)


def _settle_all(conn: Connection, settlements: Sequence[Settlement]) -> list[bool]:
    """Which settlements landed: those whose delivery is still pending under their lease (one
    per delivery). Five statements for the whole batch, whatever its size (executemany)."""
    rows = conn.execute(
        "SELECT id, claimed_by, claim_generation FROM deliveries"
        " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
        (json.dumps([s.delivery_id for s in settlements]),),
    ).fetchall()
    holders = {row[0]: Lease(row[1], row[2]) for row in rows}
    landing: list[Settlement] = []
    for settlement in settlements:
        if holders.get(settlement.delivery_id) == settlement.lease:
            del holders[settlement.delivery_id]  # a second outcome for it in the batch: not this
            landing.append(settlement)
    _apply(conn, landing)
    landed = {id(s) for s in landing}
    return [id(s) in landed for s in settlements]


def _apply(conn: Connection, settlements: Sequence[Settlement]) -> None:
    conn.executemany(
        "UPDATE deliveries SET attempts = attempts + 1, state = ?,"
        " next_attempt_at = COALESCE(?, next_attempt_at), claimed_by = NULL,"
        " claim_expires = NULL, last_status = ?, last_error = ?, rejection = ?,"
        " body = COALESCE(body, ?), updated_at = ?"
        " WHERE id = ? AND state = 'pending' AND claimed_by = ? AND claim_generation = ?",
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
                s.lease.owner,
                s.lease.generation,
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


class Deliveries(PublishShortcuts):
    def __init__(self, db: Database, box: SecretBox, signal: WorkSignal) -> None:
        self._db = db
        self._box = box
        self._signal = signal

    async def publish_requests(
        self, requests: Sequence[PublishRequest]
    ) -> list[tuple[list[PublishedEvent], bool]]:
        """Several publish requests in ONE transaction (a group commit), each answered apart.

        A fixed number of statements for all the requests' events, whatever the number of events
        and subscribers (see `events.publish_all`). A key seen within the window (the request's,
        or an event's own) writes nothing and answers what the first request got; the flag says
        the whole answer is a replay.
        """
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
        exclude: Iterable[int] = (),
        newer_than: int | None = None,
    ) -> Claimed:
        """Lease due deliveries, skipping busy subscriptions and the deliveries in `exclude`
        (those its caller holds: never claimed twice by one holder); a subscription ends up with
        at most `per_subscription`, counting the claims it already `held`. With `newer_than`,
        only deliveries stored after that id (`Claimed.newest_id` of an earlier claim) are
        looked at: a claim of new work that costs what is new, however long the backlog.

        Deliveries whose subscription has ended, expired or been disabled are cancelled instead
        of returned.
        """
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
        return Claimed([due_delivery(row, self._box, owner) for row in rows], newest)

    async def start_attempts(
        self, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
    ) -> list[bool]:
        """For each (delivery, lease), whether its attempt may be sent now; the leases of those
        that may are extended by `ttl` (see `claims.start`). Not synced to disk: a lease lost in
        a crash only delays the delivery (leases are released at start-up)."""
        return await self._db.run(lambda conn: start(conn, starts, now=now, ttl=ttl), durable=False)

    async def record_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record attempts and new states in ONE transaction (a group commit: one fsync for many
        deliveries); for each settlement, whether it landed. A settlement to PENDING with
        `next_attempt_at` schedules a retry; DELIVERED, DEAD and CANCELLED are final. One that
        does not land (its claim expired and was taken again, or the delivery was cancelled
        meanwhile) changes nothing, not even the attempt count."""
        return await self._db.run(lambda conn: _settle_all(conn, settlements))

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

    async def requeue(self, ids: Sequence[int] | None, *, now: float) -> RequeueReport:
        """Give dead deliveries a fresh retry budget (all of them when `ids` is None), but only
        those whose subscription is still the current, enabled one: a dead delivery of an ended
        subscription is never sent again, to anyone.

        A re-queued identity delivery forgets the SET it was signed with (`body`), so its next
        attempt signs it again: same jti (stored with the delivery), fresh iat. The old SET may
        be days old by now, older than receivers accept (set_tokens' max_age). One stored
        before jtis were (migration 3) keeps its SET: signing again would change its jti."""

        def requeue(conn: Connection) -> RequeueReport:
            query = (
                "SELECT d.id, d.state, s.id IS NOT NULL AND s.ended_at IS NULL"
                " AND s.expires_at > ? AS current, s.disabled_at IS NOT NULL AS disabled "
                "FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id "
            )
            if ids is None:
                rows = conn.execute(query + "WHERE d.state = 'dead'", (now,)).fetchall()
            else:
                rows = conn.execute(
                    query + "WHERE d.id IN (SELECT value FROM json_each(?))",
                    (now, json.dumps(list(ids))),
                ).fetchall()
            found = {row["id"]: row for row in rows}
            report = RequeueReport([], [], [], [], {})
            for delivery_id in found if ids is None else dict.fromkeys(ids):
                row = found.get(delivery_id)
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
            conn.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                " claimed_by = NULL, claim_expires = NULL, updated_at = ?,"
                " body = CASE WHEN jti IS NULL THEN body END"
                " WHERE state = 'dead' AND id IN (SELECT value FROM json_each(?))",
                (now, now, json.dumps(report.requeued)),
            )
            return report

        report = await self._db.run(requeue)
        if report.requeued:
            self._signal.fire(WorkKind.DELIVERIES)
        return report

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
        """After the retention period, forget finished deliveries, the events nobody waits for
        and the ended subscriptions no delivery names any more."""

        def purge(conn: Connection) -> int:
            deliveries, *the_rest = PURGE_STATEMENTS
            removed = conn.execute(deliveries, (older_than,)).rowcount
            for statement in the_rest:
                conn.execute(statement, (older_than,))
            return removed

        return await self._db.run(purge)
