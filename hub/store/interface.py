"""The store as the rest of the hub sees it: one protocol per repository, and the `Store` itself.

Everything above `hub/store` talks to these, typed with the plain records of `records.py`; no SQL,
connection or database object crosses this line. Two implementations stand behind it:

- `sqlite/` (the embedded default): one file, one writer thread, one process. Every claim of
  the database belongs to this process, so start-up releases the claims a killed predecessor
  left (`release_claims`).
- `postgres/`: one database that several hub nodes may share. Claims are leases that another
  node may hold right now, so start-up releases nothing; a dead node's leases expire and the work
  is claimed again (`FOR UPDATE SKIP LOCKED`).

Every method is one transaction (or one statement): a unit of work is stored whole or not at all.
A database that cannot work now raises `StoreUnavailableError`; one that cannot be opened or
migrated, `StoreOpenError` (see `errors.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from .errors import StoreHealth
from .records import (
    Claimed,
    DeliveryState,
    Intent,
    IntentMode,
    Lease,
    NewEvent,
    PublishedEvent,
    PublishRequest,
    RequeueReport,
    Revocation,
    SchemaStatus,
    Settlement,
    SigningKeyRecord,
    SigningKeys,
    Source,
    Subscription,
    Token,
    Topic,
    WorkKind,
)

__all__ = [
    "DeliveriesRepository",
    "IntentsRepository",
    "SigningKeysRepository",
    "SourcesRepository",
    "Store",
    "SubscriptionsRepository",
    "TokensRepository",
    "TopicsRepository",
    "WorkListener",
]

PublishAnswer = tuple[list[PublishedEvent], bool]  # the events, and whether it is all a replay
WorkListener = Callable[[WorkKind], None]


class SubscriptionsRepository(Protocol):
    async def activate(
        self,
        *,
        topic: str,
        callback: str,
        secret: bytes | None,
        lease_seconds: int,
        now: float,
        audience: str | None = None,
        event_types: tuple[str, ...] | None = None,
        token_id: int | None = None,
        host_key: str | None = None,
    ) -> Subscription:
        """Create or replace the (topic, callback) subscription after a verified subscribe."""
        ...

    async def remove(self, *, topic: str, callback: str, now: float) -> bool:
        """End a subscription (verified unsubscribe); its queued deliveries are cancelled."""
        ...

    async def remove_by_id(self, subscription_id: int, *, now: float) -> bool:
        """End a subscription by id (its callback answered 410 Gone)."""
        ...

    async def get(self, *, topic: str, callback: str) -> Subscription | None: ...

    async def active(self, topic: str, *, now: float) -> list[Subscription]: ...

    async def count_active(self, *, now: float) -> int: ...

    async def count_for(
        self, *, now: float, topic: str | None = None, host: str | None = None
    ) -> int:
        """Active subscriptions of a topic, or of a callback host."""
        ...

    async def disable_failing(self, *, failing_before: float, now: float) -> list[Subscription]:
        """Stop delivering to subscriptions failing continuously since before a time."""
        ...

    async def purge_expired(self, *, now: float) -> int:
        """End subscriptions whose lease is over (WebSub §5.3.1)."""
        ...


class IntentsRepository(Protocol):
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
        ...

    async def claim_due(
        self, *, owner: str, now: float, ttl: float, limit: int, per_host: int
    ) -> list[Intent]:
        """Lease due requests: the oldest of each (topic, callback), at most `per_host` in flight
        per callback host, hosts round-robin."""
        ...

    async def finish(self, intent_id: int) -> None: ...

    async def retry_at(self, intent_id: int, *, at: float) -> None: ...

    async def count(self) -> int: ...


class DeliveriesRepository(Protocol):
    async def publish(
        self, *, topic: str, content_type: str, body: bytes, now: float
    ) -> PublishedEvent:
        """Store one content event and its deliveries."""
        ...

    async def publish_batch(
        self,
        events: Sequence[NewEvent],
        *,
        now: float,
        idempotency_key: str | None = None,
        idempotency_window: float = 0.0,
    ) -> PublishAnswer:
        """Store events and one delivery per matching active subscription in ONE transaction."""
        ...

    async def publish_requests(self, requests: Sequence[PublishRequest]) -> list[PublishAnswer]:
        """Several publish requests in ONE transaction (a group commit), each answered apart,
        in a fixed number of statements whatever the number of events and subscribers."""
        ...

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
        """Lease due deliveries, skipping busy subscriptions and the deliveries in `exclude`, at
        most `per_subscription` each counting the claims it already `held`; with `newer_than`,
        only deliveries stored after that id. Those of ended subscriptions are cancelled."""
        ...

    async def start_attempts(
        self, starts: Sequence[tuple[int, Lease]], *, now: float, ttl: float
    ) -> list[bool]:
        """For each (delivery, lease), whether its attempt may be sent now (the lease holds, the
        subscription is the same active one); those that may get their lease extended."""
        ...

    async def record_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record attempts and new states in ONE transaction (a group commit); for each
        settlement, whether it landed (only under the lease that made the attempt)."""
        ...

    async def listing(self, *, state: DeliveryState, limit: int = 100) -> list[dict[str, object]]:
        """Deliveries in a state, newest first, for operators (no bodies, no secrets)."""
        ...

    async def requeue(self, ids: Sequence[int] | None, *, now: float) -> RequeueReport:
        """Give dead deliveries of current subscriptions a fresh retry budget (all of them when
        `ids` is None); what happened to each. An identity delivery re-queued is signed again
        at its next attempt: the same jti, a fresh iat."""
        ...

    async def counts(self) -> dict[str, int]:
        """Deliveries per state, every state named."""
        ...

    async def next_due_at(self) -> float | None: ...

    async def purge_finished(self, *, older_than: float) -> int:
        """Forget finished deliveries, and events nobody waits for, after the retention."""
        ...


class TopicsRepository(Protocol):
    async def put(self, *, name: str, content_type: str, content: bytes, now: float) -> None: ...

    async def get(self, name: str) -> Topic | None: ...

    async def names(self) -> list[str]: ...


class TokensRepository(Protocol):
    async def add(
        self,
        *,
        digest: str,
        scope: str,
        label: str | None,
        now: float,
        audiences: tuple[str, ...] = (),
    ) -> int: ...

    async def find(self, digest: str) -> tuple[str, Token] | None:
        """The stored digest with its token; None for an unknown or revoked token."""
        ...

    async def get(self, token_id: int) -> Token | None: ...

    async def listing(self) -> list[Token]: ...

    async def revoke(self, token_id: int, *, now: float) -> Revocation: ...


class SourcesRepository(Protocol):
    async def add(self, source: Source) -> None:
        """Register an inbound source; SourceExists if its name is taken."""
        ...

    async def get(self, name: str) -> Source | None: ...

    async def listing(self) -> list[Source]: ...

    async def remove(self, name: str) -> bool: ...


class SigningKeysRepository(Protocol):
    """The SET signing keys, where every node of a shared store reads the same ones.

    Private keys are sealed with the hub's secret key at rest; without one every method but
    `generation` raises `SecretKeyRequired`. Which key signs at a given time is the key set's
    own rule (set_tokens' KeySet), applied by each reader: nothing here changes with the clock.
    """

    async def generation(self) -> int:
        """The stored set's generation (0: none yet): one cheap read, to poll for changes."""
        ...

    async def load(self) -> SigningKeys:
        """The whole key set, private keys opened (generation 0 and no keys: none yet)."""
        ...

    async def create(self, keys: Sequence[SigningKeyRecord]) -> tuple[SigningKeys, bool]:
        """Store `keys` as the key set if there is none yet, and whether this call did: nodes
        starting together on an empty database create exactly one set between them."""
        ...

    async def replace(self, keys: Sequence[SigningKeyRecord], *, generation: int) -> SigningKeys:
        """Store `keys` as the key set in place of the one read at `generation`; KeySetChanged
        if another writer changed it since (read it again and redo the change)."""
        ...


class Store(Protocol):
    """The hub's durable state: repositories over one database, and the database's life."""

    @property
    def subscriptions(self) -> SubscriptionsRepository: ...

    @property
    def intents(self) -> IntentsRepository: ...

    @property
    def deliveries(self) -> DeliveriesRepository: ...

    @property
    def topics(self) -> TopicsRepository: ...

    @property
    def tokens(self) -> TokensRepository: ...

    @property
    def sources(self) -> SourcesRepository: ...

    @property
    def signing_keys(self) -> SigningKeysRepository | None:
        """The SET signing keys, on a store every node shares (PostgreSQL); None where they are
        the node's own, in its --keys-dir (SQLite)."""
        ...

    @property
    def health(self) -> StoreHealth:
        """Whether writes succeed, as the store's own recent writes show: no query, answered at
        once (/healthz asks it every few seconds)."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes (hub nodes) may be working on this database right now."""
        ...

    async def release_claims(self) -> None:
        """At start-up: release the claims an earlier process left, where that is safe. On a
        store with one user (SQLite, not `shared`) that is every claim, at once; on a shared
        one, none (other nodes hold live claims; a dead node's expire after their ttl)."""
        ...

    async def seal_plaintext_secrets(self, secret_key: bytes) -> int:
        """Seal the hub.secrets stored in plaintext before `secret_key` was set; how many."""
        ...

    def on_work_stored(self, listener: WorkListener) -> None:
        """Call `listener` (on the event loop, without waiting on it) each time new work is
        stored: deliveries (a publish, a re-queue) or intents (a subscription request): this
        process's own commits and, on a shared store, the other nodes' (PostgreSQL
        LISTEN/NOTIFY, heard from the first call on)."""
        ...

    async def sweeps_here(self) -> bool:
        """Whether this process runs the janitor's sweeps now: always on a store with one
        user; on a shared one, only on the one node holding the turn (see postgres.sweeps)."""
        ...

    async def schema_status(self) -> SchemaStatus: ...

    async def migrate(self) -> list[int]:
        """Apply the pending schema migrations; their numbers."""
        ...

    async def close(self) -> None: ...
