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
    # 4: ids are never reused, and a delivery belongs to its subscription by a foreign key
    # (security review M8, interop report D1: a reused subscription id sent one subscriber's
    # dead-lettered SETs to another). SQLite adds AUTOINCREMENT only by rebuilding the table, and
    # the four tables are rebuilt together: with foreign keys on (always, here: no PRAGMA
    # foreign_keys inside the migration's transaction), renaming a parent rewrites its children's
    # references, and dropping it would cascade into them. So every old table is renamed away
    # first, the new ones are created and filled, and the old ones are dropped children first.
    #
    # An ended subscription (unsubscribed, gone, lease over) keeps its row, marked `ended_at`
    # and without its secret, while deliveries name it: the dead ones stay listed against the
    # callback they were for, and deleting a subscription would have rewritten every delivery row
    # it ever had (ON DELETE SET NULL) on the store's only thread. Only the current subscription
    # of a (topic, callback) is unique; the purge of finished deliveries removes ended rows that
    # no delivery names any more.
    #
    # Deliveries stored before this may name an id that was reused since: their subscription is
    # unknown (subscription_id NULL), a pending one is cancelled. They are those whose
    # subscription row is gone, is on another topic, or was created after the delivery.
    # `claim_generation` fences claims: a settlement lands only with the claim that made it.
    """
    ALTER TABLE delivery_attempts RENAME TO delivery_attempts_v3;
    ALTER TABLE deliveries RENAME TO deliveries_v3;
    ALTER TABLE events RENAME TO events_v3;
    ALTER TABLE subscriptions RENAME TO subscriptions_v3;

    CREATE TABLE subscriptions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
        ended_at      REAL              -- unsubscribed, gone or expired: kept while named
    );
    CREATE TABLE events (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        topic        TEXT NOT NULL,
        kind         TEXT NOT NULL DEFAULT 'content',
        event_type   TEXT,
        content_type TEXT NOT NULL,
        body         BLOB NOT NULL,
        created_at   REAL NOT NULL
    );
    CREATE TABLE deliveries (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id         INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        subscription_id  INTEGER REFERENCES subscriptions (id), -- NULL: unknown (see above)
        state            TEXT    NOT NULL DEFAULT 'pending',
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  REAL    NOT NULL,
        claimed_by       TEXT,
        claim_expires    REAL,
        claim_generation INTEGER NOT NULL DEFAULT 0, -- one more at every claim
        last_status      INTEGER,
        last_error       TEXT,
        rejection        TEXT,           -- RFC 8935 err code of a permanent rejection
        body             BLOB,
        created_at       REAL    NOT NULL,
        updated_at       REAL    NOT NULL,
        jti              TEXT
    );
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

    INSERT INTO subscriptions (id, topic, callback, secret, lease_seconds, expires_at,
        created_at, updated_at, callback_host, failing_since, disabled_at, audience, event_types)
    SELECT id, topic, callback, secret, lease_seconds, expires_at, created_at, updated_at,
        callback_host, failing_since, disabled_at, audience, event_types
    FROM subscriptions_v3;
    INSERT INTO events (id, topic, kind, event_type, content_type, body, created_at)
    SELECT id, topic, kind, event_type, content_type, body, created_at FROM events_v3;
    INSERT INTO deliveries (id, event_id, subscription_id, state, attempts, next_attempt_at,
        claimed_by, claim_expires, last_status, last_error, rejection, body, created_at,
        updated_at, jti)
    SELECT d.id, d.event_id, s.id,
        CASE WHEN s.id IS NULL AND d.state = 'pending' THEN 'cancelled' ELSE d.state END,
        d.attempts, d.next_attempt_at, d.claimed_by, d.claim_expires, d.last_status,
        d.last_error, d.rejection, d.body, d.created_at, d.updated_at, d.jti
    FROM deliveries_v3 d JOIN events_v3 e ON e.id = d.event_id
    LEFT JOIN subscriptions_v3 s
        ON s.id = d.subscription_id AND s.topic = e.topic AND s.created_at <= d.created_at;
    INSERT INTO delivery_attempts
    SELECT * FROM delivery_attempts_v3 WHERE delivery_id IN (SELECT id FROM deliveries);

    DELETE FROM sqlite_sequence WHERE name = 'subscriptions';
    INSERT INTO sqlite_sequence (name, seq) VALUES ('subscriptions', MAX(
        COALESCE((SELECT MAX(id) FROM subscriptions_v3), 0),
        COALESCE((SELECT MAX(subscription_id) FROM deliveries_v3), 0)
    ));

    DROP TABLE delivery_attempts_v3;
    DROP TABLE deliveries_v3;
    DROP TABLE events_v3;
    DROP TABLE subscriptions_v3;

    CREATE UNIQUE INDEX subscriptions_current
        ON subscriptions (topic, callback) WHERE ended_at IS NULL;
    CREATE INDEX subscriptions_by_topic
        ON subscriptions (topic, expires_at) WHERE ended_at IS NULL;
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at) WHERE ended_at IS NULL;
    CREATE INDEX subscriptions_by_host
        ON subscriptions (callback_host, expires_at) WHERE ended_at IS NULL;
    CREATE INDEX subscriptions_ended ON subscriptions (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX deliveries_due
        ON deliveries (next_attempt_at, id, subscription_id, claim_expires, state)
        WHERE state = 'pending';
    CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, state);
    CREATE INDEX deliveries_by_event ON deliveries (event_id);
    CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id);
    """,
    # 5: pending requests are never overwritten: they are verified one at a time per (topic,
    # callback), in arrival order (the oldest of each pair, found with this index). A request
    # keeps the key of its callback's host (the address it resolved to) for the per-host cap,
    # and claims take the hosts round-robin. A token carries the audiences its holder may ask
    # for and can be revoked; a subscription, and each pending request, records the token that
    # asked for it, so another token cannot replace or end it.
    """
    CREATE INDEX intents_by_pair ON intents (topic, callback, id);
    ALTER TABLE intents ADD COLUMN callback_host TEXT NOT NULL DEFAULT '';
    CREATE INDEX intents_by_host ON intents (callback_host, claim_expires);
    -- audiences: a JSON array of the SET audiences its holder may ask for (NULL: none listed)
    ALTER TABLE tokens ADD COLUMN audiences TEXT;
    ALTER TABLE tokens ADD COLUMN revoked_at REAL;
    ALTER TABLE intents ADD COLUMN token_id INTEGER;
    ALTER TABLE subscriptions ADD COLUMN token_id INTEGER;
    """,
    # 6: deliveries counted per state as they change, so /metrics reads four rows instead of
    # counting every delivery (a GROUP BY over 2M rows held the store's only thread for 0.7-1 s).
    # Triggers keep the counts in the transaction that makes the change, whoever makes it: the
    # hub, `sethub deliveries retry`, an operator with sqlite3, a cascade from a deleted event.
    # They cost the store's thread about 1 us more per delivery stored, and 5 us more per change
    # of state, about what updating the row cost before (measured on a 2-core VM).
    """
    CREATE TABLE delivery_counts (
        state TEXT    PRIMARY KEY,
        n     INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO delivery_counts (state, n) SELECT state, COUNT(*) FROM deliveries GROUP BY state;
    CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries BEGIN
        INSERT INTO delivery_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
    END;
    CREATE TRIGGER delivery_counts_update AFTER UPDATE OF state ON deliveries
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
        INSERT INTO delivery_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
    END;
    """,
    # 7: inbound sources: identity providers whose native webhooks POST /ingest/NAME accepts.
    # `secret` is sealed like subscriptions.secret; `options` is a JSON object of vendor details.
    """
    CREATE TABLE sources (
        name       TEXT PRIMARY KEY,
        vendor     TEXT NOT NULL,
        secret     BLOB NOT NULL,
        options    TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    """,
    # 8: the janitor's purge reads only what it removes. Every sweep it scanned the whole
    # deliveries table for finished rows past the retention (about 1 s at 2M deliveries, on the
    # store's only thread), and the whole events and idempotency_keys tables for old rows. The
    # ended subscriptions it removes already had their index (subscriptions_ended, migration 4).
    """
    CREATE INDEX deliveries_finished
        ON deliveries (updated_at) WHERE state IN ('delivered', 'cancelled');
    CREATE INDEX events_by_age ON events (created_at);
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    """,
    # 9: SET signing keys kept in the database, for hubs of several nodes (PostgreSQL; see its
    # form). A SQLite hub keeps its keys in --keys-dir and leaves these tables empty: they exist
    # so both lists stay paired by position and both schemas mean the same.
    """
    CREATE TABLE signing_keys (
        kid         TEXT PRIMARY KEY,
        alg         TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring')),
        created_at  REAL NOT NULL,
        activate_at REAL,
        public_jwk  TEXT NOT NULL, -- JSON, plain: the JWKS publishes it
        private_key BLOB NOT NULL  -- the PEM, sealed with the hub's secret key
    ) WITHOUT ROWID;
    CREATE TABLE signing_key_set (
        id         INTEGER PRIMARY KEY CHECK (id = 1), -- one row: one key set
        generation INTEGER NOT NULL,                   -- up at every change; nodes poll it
        updated_at REAL    NOT NULL
    );
    """,
    # 10: the claims each subscription holds.
    # PostgreSQL reads it at each claim, for nodes sharing the database; here it keeps the two
    # schemas alike (the one process knows its claims without it), and costs a few rows.
    """
    CREATE INDEX deliveries_claimed ON deliveries (subscription_id) WHERE claimed_by IS NOT NULL;
    """,
)
