"""Claiming deliveries as leases on PostgreSQL, and starting an attempt under one (the rules of
`..sqlite.claims`: a lease is (owner, expiry, generation), a delivery is claimed and started
only while its subscription is the same active one, and what is found over is cancelled).

Several nodes claim at once: candidates are locked with `FOR UPDATE SKIP LOCKED`, so a node
passes over the rows another is claiming instead of waiting for them, and the rows a claim reads
but does not take are unlocked at its commit. Starts and settlements lock their rows in id order.
One node at a time holds claims on a subscription (until they are settled or expire), so the
cap on a subscriber's requests, which each node enforces on its own, holds for the hub.

Ids come from a sequence and are drawn before commit, so a delivery may become visible after
one with a larger id: a claim of new work (`newer_than`) can pass over it, and the next full
claim, which every dispatcher makes at least once per poll interval, takes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..claiming import CLAIM_SCAN_FACTOR, ClaimRequest, fair_share
from ..records import Lease
from .database import Connection, PostgresDatabase
from .subscriptions import cancel_pending

__all__ = ["ClaimRequest", "claim", "start"]

# Whether a delivery's subscription is still the one it was made for, and active ($1 is now).
_SUBSCRIPTION_STATE = (
    "s.id IS NOT NULL AND s.topic = e.topic AS same_subscription,"
    " s.id IS NOT NULL AND s.ended_at IS NULL AND s.disabled_at IS NULL AND s.expires_at > $1"
    " AS active"
)
# Each node claims first for its own share of the subscriptions (`subscription_id % count =
# index`), and for the others' only once their deliveries have waited HOME_GRACE_SECONDS: with
# two nodes, the first to claim took every subscription, kept it by topping it up, and the other
# node delivered nothing. ({p} is the first of three parameters: count, index, and the time
# before which a due delivery is anyone's.)
_CLAIMABLE = (
    "state = 'pending' AND next_attempt_at <= $1"
    " AND (claim_expires IS NULL OR claim_expires <= $1)"
    " AND subscription_id <> ALL($2::bigint[]) AND id <> ALL($3::bigint[])"
    " AND (subscription_id % ${p} = ${i} OR next_attempt_at <= ${g})"
)
# How long the deliveries of another node's share wait for it before this node may take them:
# longer than the other nodes take to learn that a node has gone (`.wakeups`), so that only a
# node stuck with its listener alive delays them by this much.
HOME_GRACE_SECONDS = 15.0


def _claimable(first: int) -> str:
    return _CLAIMABLE.format(p=first, i=first + 1, g=first + 2)


# The candidates, with the newest delivery id in the same statement (and so the same snapshot:
# every candidate of a claim of new work is at most that id, and the next one reads on from it).
_NEWEST = "SELECT COALESCE(MAX(id), 0) AS newest FROM deliveries"
_DUE = (
    f"SELECT n.newest, c.id, c.subscription_id FROM ({_NEWEST}) n LEFT JOIN LATERAL"
    f" (SELECT id, subscription_id, next_attempt_at FROM deliveries WHERE {_claimable(5)}"
    " ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) c ON true"
    " ORDER BY c.next_attempt_at, c.id"
)
_NEW = (
    f"SELECT n.newest, c.id, c.subscription_id FROM ({_NEWEST}) n LEFT JOIN LATERAL"
    f" (SELECT id, subscription_id FROM deliveries WHERE id > $5 AND {_claimable(6)}"
    " ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) c ON true ORDER BY c.id"
)
_LEASE = (
    "WITH claimed AS ("
    " UPDATE deliveries SET claimed_by = $2, claim_expires = $3,"
    " claim_generation = claim_generation + 1 WHERE id = ANY($4::bigint[])"
    " RETURNING id, event_id, subscription_id, attempts, claim_generation, next_attempt_at,"
    " jti, body)"
    " SELECT c.id, c.event_id, c.subscription_id, c.attempts, c.claim_generation, s.topic,"
    " s.callback, s.secret, s.audience, e.content_type, e.created_at, e.kind, c.jti,"
    " c.body IS NOT NULL OR e.kind = 'content' AS rendered,"
    f" COALESCE(c.body, e.body) AS body, {_SUBSCRIPTION_STATE}"
    " FROM claimed c JOIN events e ON e.id = c.event_id"
    " LEFT JOIN subscriptions s ON s.id = c.subscription_id"
    " ORDER BY c.next_attempt_at, c.id"
)
# Starting attempts: the deliveries are locked in id order; those still pending under the
# lease that asks, and still for the same active subscription, have their lease extended ($5).
_START = (
    "WITH wanted AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::int[])"
    " AS w(id, owner, generation)),"
    " starting AS MATERIALIZED (SELECT d.id, d.subscription_id, d.state, d.claimed_by,"
    f" d.claim_generation, {_SUBSCRIPTION_STATE}"
    " FROM deliveries d JOIN events e ON e.id = d.event_id"
    " LEFT JOIN subscriptions s ON s.id = d.subscription_id"
    " WHERE d.id = ANY($2::bigint[]) ORDER BY d.id FOR UPDATE OF d),"
    " going AS (UPDATE deliveries d SET claim_expires = $5"
    " FROM starting st JOIN wanted w ON w.id = st.id"
    " WHERE d.id = st.id AND st.state = 'pending' AND st.claimed_by = w.owner"
    " AND st.claim_generation = w.generation AND st.same_subscription AND st.active"
    " RETURNING d.id)"
    " SELECT st.*, st.id IN (SELECT id FROM going) AS going FROM starting st"
)
# One node at a time holds claims on a subscription, so the cap on requests to one subscriber,
# which each node enforces on its own requests, holds for the whole hub. A claim first takes a
# lock per candidate subscription (skipping those another claim holds, as SKIP LOCKED does
# rows), then, in a later statement that sees every claim committed before it got the lock,
# passes over the subscriptions on which another node holds live claims.
_LOCK_SUBSCRIPTIONS = (
    "SELECT sid FROM unnest($1::bigint[]) AS sid"
    " WHERE pg_try_advisory_xact_lock(hashtextextended("
    "'sethub claims ' || current_schema() || ' ' || sid, 0)) ORDER BY sid"
)
_CLAIMED_ELSEWHERE = (
    "SELECT DISTINCT subscription_id FROM deliveries"
    " WHERE subscription_id = ANY($1::bigint[]) AND claimed_by IS NOT NULL"
    " AND claimed_by <> $2 AND claim_expires > $3 AND state = 'pending'"
)
_CANCEL_ONE = (
    "UPDATE deliveries SET state = 'cancelled', claimed_by = NULL, claim_expires = NULL,"
    " updated_at = $2 WHERE id = ANY($1::bigint[]) AND state = 'pending'"
)


async def claim(conn: Connection, request: ClaimRequest) -> tuple[list[asyncpg.Record], int]:
    """Lease due deliveries, inside the caller's transaction; their rows and the newest
    delivery id."""
    scan = request.limit * CLAIM_SCAN_FACTOR
    common = (request.now, list(request.busy), list(request.exclude), scan)
    index, count = request.place
    share = (count, index, request.now - HOME_GRACE_SECONDS)
    if request.newer_than is None:
        found = await conn.fetch(_DUE, *common, *share)
    else:
        found = await conn.fetch(_NEW, *common, request.newer_than, *share)
    newest = int(found[0]["newest"])
    candidates = [row for row in found if row["id"] is not None]
    free = await _free_here(conn, candidates, request)
    ids, stopped_at = fair_share(
        (
            (row["id"], row["subscription_id"])
            for row in candidates
            if row["subscription_id"] in free
        ),
        limit=request.limit,
        per_subscription=request.per_subscription,
        held=request.held,
    )
    if request.newer_than is not None:
        if stopped_at is None and len(candidates) == scan:
            stopped_at = candidates[-1]["id"]  # the scan's end, not the table's
        if stopped_at is not None:
            newest = stopped_at  # the next claim of new work reads on from there
    if not ids:
        return [], newest
    rows = await conn.fetch(_LEASE, request.now, request.owner, request.now + request.ttl, ids)
    return await _live_only(conn, rows, request.now), newest


async def _free_here(
    conn: Connection, candidates: Sequence[asyncpg.Record], request: ClaimRequest
) -> set[int]:
    """The candidate subscriptions this claim may take for: locked by it, and with no live
    claim of another node's on them. (Those locked by another claim right now are not among
    them: that claim may take nothing for them.)"""
    subscriptions = sorted({row["subscription_id"] for row in candidates})
    if not subscriptions:
        return set()
    locked = {row["sid"] for row in await conn.fetch(_LOCK_SUBSCRIPTIONS, subscriptions)}
    if not locked:
        return locked
    found = await conn.fetch(_CLAIMED_ELSEWHERE, sorted(locked), request.owner, request.now)
    return locked - {row["subscription_id"] for row in found}


async def _live_only(
    conn: Connection, rows: Sequence[asyncpg.Record], now: float
) -> list[asyncpg.Record]:
    """The rows that may be sent; the others are cancelled: with all their subscription's queue
    when the subscription is over, alone when it is not their own."""
    ended = sorted({row["subscription_id"] for row in rows if _over(row)})
    strays = [row["id"] for row in rows if not row["same_subscription"]]
    await cancel_pending(conn, ended, now)
    if strays:
        await conn.execute(_CANCEL_ONE, strays, now)
    return [row for row in rows if row["same_subscription"] and row["active"]]


def _holds(row: asyncpg.Record | None, lease: Lease) -> bool:
    """Whether the delivery is still pending under `lease`."""
    return (
        row is not None
        and row["state"] == "pending"
        and (row["claimed_by"], row["claim_generation"]) == (lease.owner, lease.generation)
    )


def _over(row: asyncpg.Record) -> bool:
    return bool(row["same_subscription"]) and not row["active"]


async def start(
    db: PostgresDatabase, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
) -> list[bool]:
    """For each (delivery, lease), whether its attempt may go (see `..sqlite.claims.start`);
    the leases of those that go are extended to `now + ttl`. One statement (`_START`): starts
    come one batch per few requests, and each round trip is CPU the hub and server share.
    Those held but found over are cancelled (and not sent) afterwards, as at a claim."""
    found = await db.write(
        _START,
        now,
        [delivery_id for delivery_id, _ in starts],
        [lease.owner for _, lease in starts],
        [lease.generation for _, lease in starts],
        now + ttl,
    )
    rows = {row["id"]: row for row in found}
    answers = [
        _holds(rows.get(delivery_id), lease) and rows[delivery_id]["going"]
        for delivery_id, lease in starts
    ]
    over = [
        row
        for (delivery_id, lease) in starts
        if _holds(row := rows.get(delivery_id), lease) and row is not None and _over(row)
    ]
    if over:
        await db.run(lambda conn: _live_only(conn, over, now), durable=False)
    return answers
