"""Settling deliveries on PostgreSQL: a batch of attempts' outcomes (a group commit) lands in one
statement, each outcome only under the lease that claimed its delivery and while it is pending
(the rules of `..sqlite.deliveries`).

One statement, not a transaction of five: settlements are a third of the hub's transactions at
full fan-out, and each round trip costs the hub and the server CPU that signing and sending need
(bench/fanout.py counts the server's CPU and the transactions per delivery).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import DeliveryState, Lease, Settlement
from .database import Connection, PostgresDatabase

__all__ = ["settle"]

DELIVERED = DeliveryState.DELIVERED

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


# A whole batch of settlements in one statement, so one round trip and no transaction block:
# the holders are locked in id order, each delivery still pending under its settlement's lease
# gets its new state and its attempt row, and each subscription's run of failures is updated
# (a success ends it; the batch's first failure starts one if none is running, after its
# successes). It answers the place in the batch of each settlement that landed.
_SETTLE_BATCH = (
    "WITH batch AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::int[],"
    " $5::text[], $6::text[], $7::bytea[], $8::float8[], $9::text[], $10::int[],"
    " $11::float8[], $12::float8[], $13::text[], $14::bigint[]) WITH ORDINALITY"
    " AS u(id, state, next_attempt_at, status, error, rejection, body, updated_at, owner,"
    " generation, started_at, duration, outcome, subscription_id, n)),"
    " holders AS MATERIALIZED (SELECT d.id FROM deliveries d JOIN batch u ON u.id = d.id"
    " WHERE d.state = 'pending' AND d.claimed_by = u.owner AND d.claim_generation = u.generation"
    " ORDER BY d.id FOR UPDATE OF d),"
    " settled AS (UPDATE deliveries d SET attempts = d.attempts + 1, state = u.state,"
    " next_attempt_at = COALESCE(u.next_attempt_at, d.next_attempt_at), claimed_by = NULL,"
    " claim_expires = NULL, last_status = u.status, last_error = u.error,"
    " rejection = u.rejection, body = COALESCE(d.body, u.body), updated_at = u.updated_at"
    " FROM batch u WHERE d.id = u.id AND d.id IN (SELECT id FROM holders)"
    " RETURNING d.id, d.attempts, u.n, u.subscription_id, u.state, u.started_at),"
    " attempts AS (INSERT INTO delivery_attempts"
    " (delivery_id, attempt, started_at, duration, status, error, outcome)"
    " SELECT s.id, s.attempts, u.started_at, u.duration, u.status, u.error, u.outcome"
    " FROM settled s JOIN batch u ON u.n = s.n ORDER BY s.n),"
    " runs AS (SELECT subscription_id AS id, bool_or(state = 'delivered') AS succeeded,"
    " (array_agg(started_at ORDER BY n) FILTER (WHERE state <> 'delivered'))[1] AS failed_at"
    " FROM settled GROUP BY subscription_id),"
    " runs_now AS (SELECT r.id, CASE WHEN r.failed_at IS NULL THEN NULL"
    " WHEN r.succeeded THEN r.failed_at ELSE COALESCE(s.failing_since, r.failed_at) END"
    " AS failing_since, s.failing_since AS before FROM runs r JOIN subscriptions s USING (id)),"
    " subscriptions_settled AS (UPDATE subscriptions s SET failing_since = r.failing_since"
    " FROM runs_now r WHERE s.id = r.id AND r.failing_since IS DISTINCT FROM r.before)"
    " SELECT n FROM settled"
)


async def _settle_all(conn: Connection, settlements: Sequence[Settlement]) -> list[bool]:
    """Which settlements landed: those whose delivery is still pending under their lease (one
    per delivery). At most five statements for the whole batch, whatever its size. (The
    fallback of `settle` when one delivery has settlements under different leases.)"""
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


async def settle(db: PostgresDatabase, settlements: Sequence[Settlement]) -> list[bool]:
    """`_settle_all` in one statement (`_SETTLE_BATCH`). A delivery settled twice in one batch
    under one lease lands its first outcome only, as there; under two leases (which one
    dispatcher never sends), the batch takes the statement-by-statement way."""
    first: dict[int, Settlement] = {}
    for settlement in settlements:
        seen = first.setdefault(settlement.delivery_id, settlement)
        if seen.lease != settlement.lease:
            return await db.run(lambda conn: _settle_all(conn, settlements))
    batch = list(first.values())
    rows = await db.write(
        _SETTLE_BATCH,
        [s.delivery_id for s in batch],
        [str(s.state) for s in batch],
        [s.next_attempt_at for s in batch],
        [s.attempt.status for s in batch],
        [s.attempt.error for s in batch],
        [s.rejection for s in batch],
        [s.body for s in batch],
        [s.attempt.started_at + s.attempt.duration for s in batch],
        [s.lease.owner for s in batch],
        [s.lease.generation for s in batch],
        [s.attempt.started_at for s in batch],
        [s.attempt.duration for s in batch],
        [s.attempt.outcome for s in batch],
        [s.subscription_id for s in batch],
    )
    landed = {id(batch[row["n"] - 1]) for row in rows}
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
