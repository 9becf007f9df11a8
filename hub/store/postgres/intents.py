"""Pending verifications of intent on PostgreSQL (see `..sqlite.intents` for the rules: every
request kept, the oldest of each (topic, callback) verified first, hosts round-robin with a bound
on each host's verifications in flight).

Several nodes may claim at once, and the bound per host counts every node's claims: claims of
intents take a transaction-scoped advisory lock, so they run one after another across nodes, each
seeing the claims committed before it. They are rare and short (a verification takes a network
round trip; a claim, a few milliseconds).
"""

from __future__ import annotations

from ...sealing import SecretBox
from ..records import Intent, IntentMode, WorkKind
from ..signals import WorkSignal
from .database import Connection, PostgresDatabase
from .subscriptions import event_types_of
from .wakeups import Notices

__all__ = ["Intents"]

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sethub intent claims ' || current_schema()))"
_CLAIM = """
UPDATE intents SET claimed_by = $1, claim_expires = $2 WHERE id IN (
    WITH heads AS (SELECT MIN(id) AS id FROM intents GROUP BY topic, callback),
    busy AS (
        SELECT callback_host, COUNT(*) AS inflight FROM intents
        WHERE claim_expires > $3 GROUP BY callback_host
    ),
    due AS (
        SELECT i.id, i.callback_host,
               ROW_NUMBER() OVER (PARTITION BY i.callback_host ORDER BY i.id) AS place
        FROM intents i JOIN heads USING (id)
        WHERE i.next_attempt_at <= $3 AND (i.claim_expires IS NULL OR i.claim_expires <= $3)
    )
    SELECT due.id FROM due LEFT JOIN busy USING (callback_host)
    WHERE due.place + COALESCE(busy.inflight, 0) <= $4
    ORDER BY due.place + COALESCE(busy.inflight, 0), due.id
    LIMIT $5
)
RETURNING id, mode, topic, callback, secret, lease_seconds, reason, attempts, audience,
    event_types, token_id, callback_host
"""


class Intents:
    def __init__(
        self, db: PostgresDatabase, box: SecretBox, signal: WorkSignal, notices: Notices
    ) -> None:
        self._db = db
        self._box = box
        self._signal = signal
        self._notices = notices

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
        """Store one request; it waits behind any earlier request for the same pair. One
        statement, which also tells the other nodes at its commit."""
        intent_id = await self._db.fetchval(
            "WITH added AS (INSERT INTO intents (mode, topic, callback, secret, lease_seconds,"
            " reason, audience, event_types, token_id, callback_host, next_attempt_at,"
            " created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id)"
            " SELECT id FROM added, pg_notify($12, $13)",
            str(mode),
            topic,
            callback,
            self._box.seal(secret),
            lease_seconds,
            reason,
            audience,
            None if event_types is None else list(event_types),
            token_id,
            callback_host,
            now,
            self._notices.channel,
            self._notices.payload(WorkKind.INTENTS),
        )
        self._signal.fire(WorkKind.INTENTS)
        return int(intent_id)

    async def claim_due(
        self, *, owner: str, now: float, ttl: float, limit: int, per_host: int
    ) -> list[Intent]:
        """Lease up to `limit` due intents to `owner` until now + ttl: only the oldest of each
        (topic, callback), at most `per_host` in flight per callback host (on every node),
        hosts with fewer in flight first, then the oldest requests."""

        async def claim(conn: Connection) -> list[Intent]:
            await conn.execute(_LOCK)
            rows = await conn.fetch(_CLAIM, owner, now + ttl, now, per_host, limit)
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
                    event_types=event_types_of(row["event_types"]),
                    token_id=row["token_id"],
                    callback_host=row["callback_host"],
                )
                for row in sorted(rows, key=lambda r: r["id"])
            ]

        return await self._db.run(claim, durable=False)

    async def finish(self, intent_id: int) -> None:
        await self._db.execute("DELETE FROM intents WHERE id = $1", intent_id)

    async def retry_at(self, intent_id: int, *, at: float) -> None:
        await self._db.execute(
            "UPDATE intents SET attempts = attempts + 1, next_attempt_at = $1,"
            " claimed_by = NULL, claim_expires = NULL WHERE id = $2",
            at,
            intent_id,
        )

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM intents"))
