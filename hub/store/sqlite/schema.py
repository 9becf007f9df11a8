"""The SQLite schema, as numbered migrations applied in order (tracked in PRAGMA user_version)."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE subscriptions (
        id            INTEGER PRIMARY KEY,
        topic         TEXT    NOT NULL,
        callback      TEXT    NOT NULL,
        secret        BLOB,
        lease_seconds INTEGER NOT NULL,
        expires_at    REAL    NOT NULL,
        created_at    REAL    NOT NULL,
        updated_at    REAL    NOT NULL,
        callback_host TEXT    NOT NULL, -- for per-host caps
        failing_since REAL,             -- first failure of the current run of failures
        disabled_at   REAL,             -- failing for too long: no more deliveries
        audience      TEXT,             -- the SET aud for identity topics (NULL: callback origin)
        event_types   TEXT,             -- JSON array of event-type URIs (NULL: every event)
        UNIQUE (topic, callback)
    );
    CREATE INDEX subscriptions_by_topic ON subscriptions (topic, expires_at);
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at);
    CREATE INDEX subscriptions_by_host ON subscriptions (callback_host, expires_at);

    CREATE TABLE intents (
        id              INTEGER PRIMARY KEY,
        mode            TEXT    NOT NULL,
        topic           TEXT    NOT NULL,
        callback        TEXT    NOT NULL,
        secret          BLOB,
        lease_seconds   INTEGER,
        reason          TEXT,
        audience        TEXT,
        event_types     TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL    NOT NULL,
        claimed_by      TEXT,
        claim_expires   REAL,
        created_at      REAL    NOT NULL
    );
    CREATE INDEX intents_due ON intents (next_attempt_at);

    CREATE TABLE topics (
        name         TEXT PRIMARY KEY,
        content_type TEXT NOT NULL,
        content      BLOB NOT NULL,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    );

    -- kind 'content': body goes out as is. kind 'identity': body is the validated identity
    -- event as JSON, rendered into one signed SET per subscription at its first attempt.
    CREATE TABLE events (
        id           INTEGER PRIMARY KEY,
        topic        TEXT NOT NULL,
        kind         TEXT NOT NULL DEFAULT 'content',
        event_type   TEXT,
        content_type TEXT NOT NULL,
        body         BLOB NOT NULL,
        created_at   REAL NOT NULL
    );

    -- Answers to publish requests that carried an idempotency key, replayed within the window.
    CREATE TABLE idempotency_keys (
        key        TEXT PRIMARY KEY,
        response   TEXT NOT NULL,
        created_at REAL NOT NULL
    );

    -- body is NULL when the event's body goes out as is. A per-subscription rendering (a SET
    -- signed for that subscription's audience) is stored here with a failed attempt's outcome,
    -- so every retry resends it.
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY,
        event_id        INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        subscription_id INTEGER NOT NULL,
        state           TEXT    NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL    NOT NULL,
        claimed_by      TEXT,
        claim_expires   REAL,
        last_status     INTEGER,
        last_error      TEXT,
        rejection       TEXT,           -- RFC 8935 err code of a permanent rejection
        body            BLOB,
        created_at      REAL    NOT NULL,
        updated_at      REAL    NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, state);
    CREATE INDEX deliveries_by_event ON deliveries (event_id);

    CREATE TABLE delivery_attempts (
        id          INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        attempt     INTEGER NOT NULL,
        started_at  REAL    NOT NULL,
        duration    REAL    NOT NULL,
        status      INTEGER,
        error       TEXT,
        outcome     TEXT    NOT NULL
    );
    CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id);

    CREATE TABLE tokens (
        id         INTEGER PRIMARY KEY,
        digest     TEXT NOT NULL UNIQUE,
        scope      TEXT NOT NULL,
        label      TEXT,
        created_at REAL NOT NULL
    );
    """,
    # 2: claims walk the due deliveries in order and read only this index (no table lookups, no
    # sort), so a claim costs what it takes, not what is pending. `state` is a column too:
    # SQLite 3.40 reads it from the row otherwise, even though the index is partial on it.
    """
    DROP INDEX deliveries_due;
    CREATE INDEX deliveries_due
        ON deliveries (next_attempt_at, id, subscription_id, claim_expires, state)
        WHERE state = 'pending';
    """,
    # 3: the jti of an identity delivery's SET is drawn when the delivery is stored, so the SET
    # needs no write of its own before its first attempt: a re-rendering after a crash (the
    # first attempt sent, its outcome not yet stored) carries the same jti, and receivers
    # recognise the duplicate (RFC 8417 §2.2). Deliveries stored before this have none.
    """
    ALTER TABLE deliveries ADD COLUMN jti TEXT;
    """,
    # (appended by the bridges branch; the lead renumbers at merge) inbound sources: identity
    # providers whose native webhooks POST /ingest/NAME accepts. `secret` is sealed like
    # subscriptions.secret; `options` is a JSON object of vendor details.
    """
    CREATE TABLE sources (
        name       TEXT PRIMARY KEY,
        vendor     TEXT NOT NULL,
        secret     BLOB NOT NULL,
        options    TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
)
