"""Claiming deliveries as leases, and starting an attempt under one: the SQL of both, run inside
the caller's transaction (see `Deliveries.claim_due` and `Deliveries.start_attempts`).

A lease is (owner, expiry, generation); the generation goes up at every claim. A delivery is
claimed only while its subscription is the same active one, on the topic of its event, and that
is checked again when the attempt starts, just before the POST: a delivery claimed ahead may
wait a while in memory, and its subscription may end meanwhile. Whatever is found over is
cancelled, not sent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..claiming import CLAIM_SCAN_FACTOR, ClaimRequest, fair_share
from ..records import DeliveryState, Lease
from .database import Connection
from .subscriptions import cancel_pending

__all__ = ["ClaimRequest", "claim", "start"]

# Whether a delivery's subscription is still the one it was made for, and active.
_SUBSCRIPTION_STATE = (
    "s.id IS NOT NULL AND s.topic = e.topic AS same_subscription,"
    " s.ended_at IS NULL AND s.disabled_at IS NULL AND s.expires_at > ? AS active"
)


def claim(conn: Connection, request: ClaimRequest) -> tuple[list[sqlite3.Row], int]:
    """Lease due deliveries; their rows (see `_ROWS`) and the newest delivery id."""
    (newest,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM deliveries").fetchone()
    candidates = _candidates(conn, request, newest)  # read lazily: see fair_share
    ids, stopped_at = fair_share(
        candidates,
        limit=request.limit,
        per_subscription=request.per_subscription,
        held=request.held,
    )
    candidates.close()  # it may stop early: finish the statement before writing
    if request.newer_than is not None and stopped_at is not None:
        newest = stopped_at  # the next claim of new work reads on from there
    if not ids:
        return [], newest
    id_list = json.dumps(ids)
    conn.execute(
        "UPDATE deliveries SET claimed_by = ?, claim_expires = ?,"
        " claim_generation = claim_generation + 1 WHERE id IN (SELECT value FROM json_each(?))",
        (request.owner, request.now + request.ttl, id_list),
    )
    rows = conn.execute(
        "SELECT d.id, d.event_id, d.subscription_id, d.attempts, d.claim_generation, s.topic,"
        " s.callback, s.secret, s.audience, e.content_type, e.created_at, e.kind, d.jti,"
        " d.body IS NOT NULL OR e.kind = 'content' AS rendered,"
        f" COALESCE(d.body, e.body) AS body, {_SUBSCRIPTION_STATE} "
        "FROM deliveries d JOIN events e ON e.id = d.event_id "
        "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
        "WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.next_attempt_at, d.id",
        (request.now, id_list),
    ).fetchall()
    return [row for row in rows if _live(conn, row, request.now)], newest


def _candidates(conn: Connection, request: ClaimRequest, newest: int) -> sqlite3.Cursor:
    """Claimable deliveries, oldest due first; or, for new work, in the order they were stored
    after `newer_than`: that walks the table's id order from there (NOT INDEXED still uses the
    rowid), not the due index, whose head may hold a long backlog of busy subscriptions."""
    claimable = (
        "state = 'pending' AND next_attempt_at <= :now"
        " AND (claim_expires IS NULL OR claim_expires <= :now)"
        " AND subscription_id NOT IN (SELECT value FROM json_each(:busy))"
        " AND id NOT IN (SELECT value FROM json_each(:exclude))"
    )
    params = {
        "now": request.now,
        "busy": json.dumps(list(request.busy)),
        "exclude": json.dumps(list(request.exclude)),
        "scan": request.limit * CLAIM_SCAN_FACTOR,
        "after": request.newer_than,
        "newest": newest,
    }
    if request.newer_than is None:
        query = (
            "SELECT id, subscription_id FROM deliveries INDEXED BY deliveries_due"
            f" WHERE {claimable} ORDER BY next_attempt_at, id LIMIT :scan"
        )
    else:
        query = (
            "SELECT id, subscription_id FROM deliveries NOT INDEXED"
            f" WHERE id > :after AND id <= :newest AND {claimable} ORDER BY id"
        )
    return conn.execute(query, params)


def _live(conn: Connection, row: sqlite3.Row, now: float) -> bool:
    """Whether a delivery may be sent to its subscription; if not, it is cancelled: with all
    the subscription's queue when the subscription is over, alone when it is not its own (a
    delivery stored before migration 4 under an id that was reused since)."""
    if row["same_subscription"] and row["active"]:
        return True
    if row["same_subscription"]:
        cancel_pending(conn, row["subscription_id"], now)
    else:
        conn.execute(
            "UPDATE deliveries SET state = ?, claimed_by = NULL, claim_expires = NULL,"
            " updated_at = ? WHERE id = ? AND state = ?",
            (DeliveryState.CANCELLED, now, row["id"], DeliveryState.PENDING),
        )
    return False


def start(
    conn: Connection, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
) -> list[bool]:
    """For each (delivery, lease), whether its attempt may go: the lease still holds and the
    subscription is still the same active one. The leases of those that go are extended to
    `now + ttl`, so that no claim expires while its attempt is on the wire; the others are not
    sent (claimed again elsewhere, or cancelled, now or earlier)."""
    id_list = json.dumps([delivery_id for delivery_id, _ in starts])
    rows = {
        row["id"]: row
        for row in conn.execute(
            "SELECT d.id, d.subscription_id, d.state, d.claimed_by, d.claim_generation,"
            f" {_SUBSCRIPTION_STATE} "
            "FROM deliveries d JOIN events e ON e.id = d.event_id "
            "LEFT JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.id IN (SELECT value FROM json_each(?))",
            (now, id_list),
        ).fetchall()
    }
    answers = []
    for delivery_id, lease in starts:
        row = rows.get(delivery_id)
        held = (
            row is not None
            and row["state"] == DeliveryState.PENDING
            and (row["claimed_by"], row["claim_generation"]) == (lease.owner, lease.generation)
        )
        answers.append(held and _live(conn, row, now))
    going = [delivery_id for (delivery_id, _), go in zip(starts, answers, strict=True) if go]
    if going:
        conn.execute(
            "UPDATE deliveries SET claim_expires = ? WHERE id IN (SELECT value FROM json_each(?))",
            (now + ttl, json.dumps(going)),
        )
    return answers
