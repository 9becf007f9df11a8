"""Pending verifications of intent (and denials to send), durable across restarts.

Every request is kept: a later request for the same (topic, callback) never replaces or cancels
an earlier one (security review M2). Only the oldest request of a pair can be claimed, so a pair
is verified one request at a time, in arrival order, each with its own challenge. Claims take the
callback hosts round-robin, with a bound on each host's verifications in flight, so callbacks that
never answer hold only their own host's share (security review M3).
"""

from __future__ import annotations

from ...sealing import SecretBox
from ..records import Intent, IntentMode, WorkKind
from ..signals import WorkSignal
from .database import Connection, Database
from .subscriptions import decode_types, encode_types

__all__ = ["Intents"]

# `heads`: the oldest request of each pair (a later one waits, even while the oldest is claimed
# or waiting for a retry). `busy`: each host's verifications in flight. A candidate's `turn` is
# its host's in-flight count plus its place in the host's queue: every host gets its first turn
# before any host gets its second.
_CLAIM = """
UPDATE intents SET claimed_by = :owner, claim_expires = :until WHERE id IN (
    WITH heads AS (SELECT MIN(id) AS id FROM intents GROUP BY topic, callback),
    busy AS (
        SELECT callback_host, COUNT(*) AS inflight FROM intents
        WHERE claim_expires > :now GROUP BY callback_host
    ),
    due AS (
        SELECT i.id, i.callback_host,
               ROW_NUMBER() OVER (PARTITION BY i.callback_host ORDER BY i.id) AS place
        FROM intents i JOIN heads USING (id)
        WHERE i.next_attempt_at <= :now AND (i.claim_expires IS NULL OR i.claim_expires <= :now)
    )
    SELECT due.id FROM due LEFT JOIN busy USING (callback_host)
    WHERE due.place + COALESCE(busy.inflight, 0) <= :per_host
    ORDER BY due.place + COALESCE(busy.inflight, 0), due.id
    LIMIT :limit
)
RETURNING id, mode, topic, callback, secret, lease_seconds, reason, attempts, audience,
    event_types, token_id, callback_host
"""


class Intents:
    def __init__(self, db: Database, box: SecretBox, signal: WorkSignal) -> None:
        self._db = db
        self._box = box
        self._signal = signal

    async def add(
        self,
        *,
        mode: IntentMode,
        topic: str,
        callback: str,
        now: float,
        secret: bytes | None = None,
        lease_seconds: int | None = None,
        reason: str | None = None,
        audience: str | None = None,
        event_types: tuple[str, ...] | None = None,
        token_id: int | None = None,
        callback_host: str = "",
    ) -> int:
        """Store one request; it waits behind any earlier request for the same pair."""
        sealed = self._box.seal(secret)

        def insert(conn: Connection) -> int:
            (intent_id,) = conn.execute(
                "INSERT INTO intents (mode, topic, callback, secret, lease_seconds, reason, "
                "audience, event_types, token_id, callback_host, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    str(mode),
                    topic,
                    callback,
                    sealed,
                    lease_seconds,
                    reason,
                    audience,
                    encode_types(event_types),
                    token_id,
                    callback_host,
                    now,
                    now,
                ),
            ).fetchone()
            return int(intent_id)

        intent_id = await self._db.run(insert)
        self._signal.fire(WorkKind.INTENTS)
        return intent_id

    async def claim_due(
        self, *, owner: str, now: float, ttl: float, limit: int, per_host: int
    ) -> list[Intent]:
        """Lease up to `limit` due intents to `owner` until now + ttl: only the oldest of each
        (topic, callback), at most `per_host` in flight per callback host, hosts with fewer in
        flight first, then the oldest requests."""
        rows = await self._db.run(
            lambda conn: conn.execute(
                _CLAIM,
                {"owner": owner, "now": now, "until": now + ttl, "per_host": per_host,
                 "limit": limit},
            ).fetchall(),
            durable=False,
        )
        return [
            Intent(
                id=row["id"],
                mode=IntentMode(row["mode"]),
                topic=row["topic"],
                callback=row["callback"],
                secret=self._box.open(row["secret"]),
                lease_seconds=row["lease_seconds"],
                reason=row["reason"],
                attempts=row["attempts"],
                audience=row["audience"],
                event_types=decode_types(row["event_types"]),
                token_id=row["token_id"],
                callback_host=row["callback_host"],
            )
            for row in sorted(rows, key=lambda r: r["id"])
        ]

    async def finish(self, intent_id: int) -> None:
        await self._db.run(
            lambda conn: conn.execute("DELETE FROM intents WHERE id = ?", (intent_id,))
        )

    async def retry_at(self, intent_id: int, *, at: float) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE intents SET attempts = attempts + 1, next_attempt_at = ?, "
                "claimed_by = NULL, claim_expires = NULL WHERE id = ?",
                (at, intent_id),
            )
        )

    async def release_claims(self) -> None:
        """Single-node start-up: claims left by a killed process are released at once."""
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE intents SET claimed_by = NULL, claim_expires = NULL "
                "WHERE claimed_by IS NOT NULL"
            )
        )

    async def count(self) -> int:
        (count,) = await self._db.read(
            lambda conn: conn.execute("SELECT COUNT(*) FROM intents").fetchone()
        )
        return int(count)
