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
        UNIQUE (topic, callback)
    );
    CREATE INDEX subscriptions_by_topic ON subscriptions (topic, expires_at);
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at);

    CREATE TABLE intents (
        id              INTEGER PRIMARY KEY,
        mode            TEXT    NOT NULL,
        topic           TEXT    NOT NULL,
        callback        TEXT    NOT NULL,
        secret          BLOB,
        lease_seconds   INTEGER,
        reason          TEXT,
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

    CREATE TABLE events (
        id           INTEGER PRIMARY KEY,
        topic        TEXT NOT NULL,
        content_type TEXT NOT NULL,
        body         BLOB NOT NULL,
        created_at   REAL NOT NULL
    );

    -- body is NULL when the event's body goes out as is. A per-subscription rendering (a SET
    -- signed for that subscription's audience) is stored here once so every retry resends it.
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
)
