"""The PostgreSQL schema: the same numbered migrations as SQLite's (`..sqlite.schema`), each in
PostgreSQL's own words, applied in order and recorded in `schema_migrations`.

Migration N here makes the same tables, columns and meanings as migration N there, so both
backends hold the same data with the same behaviour; the types are PostgreSQL's: `bigint` ids
from identity sequences (never reused), `double precision` seconds since the epoch (as SQLite's
REAL), `bytea` for bodies and sealed secrets, and `text[]` where SQLite keeps a JSON array.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE subscriptions (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic         text             NOT NULL,
        callback      text             NOT NULL,
        secret        bytea,
        lease_seconds integer          NOT NULL,
        expires_at    double precision NOT NULL,
        created_at    double precision NOT NULL,
        updated_at    double precision NOT NULL,
        callback_host text             NOT NULL,
        failing_since double precision,
        disabled_at   double precision,
        audience      text,
        event_types   text[],
        UNIQUE (topic, callback)
    );
    CREATE INDEX subscriptions_by_topic ON subscriptions (topic, expires_at);
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at);
    CREATE INDEX subscriptions_by_host ON subscriptions (callback_host, expires_at);

    CREATE TABLE intents (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        mode            text             NOT NULL,
        topic           text             NOT NULL,
        callback        text             NOT NULL,
        secret          bytea,
        lease_seconds   integer,
        reason          text,
        audience        text,
        event_types     text[],
        attempts        integer          NOT NULL DEFAULT 0,
        next_attempt_at double precision NOT NULL,
        claimed_by      text,
        claim_expires   double precision,
        created_at      double precision NOT NULL
    );
    CREATE INDEX intents_due ON intents (next_attempt_at);

    CREATE TABLE topics (
        name         text PRIMARY KEY,
        content_type text             NOT NULL,
        content      bytea            NOT NULL,
        created_at   double precision NOT NULL,
        updated_at   double precision NOT NULL
    );

    CREATE TABLE events (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic        text             NOT NULL,
        kind         text             NOT NULL DEFAULT 'content',
        event_type   text,
        content_type text             NOT NULL,
        body         bytea            NOT NULL,
        created_at   double precision NOT NULL
    );

    CREATE TABLE idempotency_keys (
        key        text PRIMARY KEY,
        response   text             NOT NULL,
        created_at double precision NOT NULL
    );

    CREATE TABLE deliveries (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id        bigint           NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        subscription_id bigint           NOT NULL,
        state           text             NOT NULL DEFAULT 'pending',
        attempts        integer          NOT NULL DEFAULT 0,
        next_attempt_at double precision NOT NULL,
        claimed_by      text,
        claim_expires   double precision,
        last_status     integer,
        last_error      text,
        rejection       text,
        body            bytea,
        created_at      double precision NOT NULL,
        updated_at      double precision NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, state);
    CREATE INDEX deliveries_by_event ON deliveries (event_id);

    CREATE TABLE delivery_attempts (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id bigint           NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        attempt     integer          NOT NULL,
        started_at  double precision NOT NULL,
        duration    double precision NOT NULL,
        status      integer,
        error       text,
        outcome     text             NOT NULL
    );
    CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id);

    CREATE TABLE tokens (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        digest     text             NOT NULL UNIQUE,
        scope      text             NOT NULL,
        label      text,
        created_at double precision NOT NULL
    );
    """,
    # 2: claims walk the due deliveries in (next_attempt_at, id) order, the order they are taken
    # in, so a claim reads what it takes and locks it (FOR UPDATE SKIP LOCKED), not a sort of
    # everything pending.
    """
    DROP INDEX deliveries_due;
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
    """,
    # 3: the jti of an identity delivery's SET, drawn when the delivery is stored.
    """
    ALTER TABLE deliveries ADD COLUMN jti text;
    """,
    # 4: ids are never reused (identity columns never were), and a delivery belongs to the one
    # subscription it was made for, by foreign key: an ended subscription keeps its row, marked
    # `ended_at` and without its secret, while deliveries name it, and only the current one of
    # a (topic, callback) is unique. Deliveries whose subscription is unknown (its row gone, on
    # another topic, or made after the delivery) are detached; a pending one is cancelled.
    # `claim_generation` fences claims: a settlement lands only with the claim that made it.
    """
    ALTER TABLE subscriptions ADD COLUMN ended_at double precision;
    ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_topic_callback_key;
    CREATE UNIQUE INDEX subscriptions_current
        ON subscriptions (topic, callback) WHERE ended_at IS NULL;
    DROP INDEX subscriptions_by_topic;
    CREATE INDEX subscriptions_by_topic
        ON subscriptions (topic, expires_at) WHERE ended_at IS NULL;
    DROP INDEX subscriptions_by_expiry;
    CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at) WHERE ended_at IS NULL;
    DROP INDEX subscriptions_by_host;
    CREATE INDEX subscriptions_by_host
        ON subscriptions (callback_host, expires_at) WHERE ended_at IS NULL;
    CREATE INDEX subscriptions_ended ON subscriptions (ended_at) WHERE ended_at IS NOT NULL;

    ALTER TABLE deliveries ALTER COLUMN subscription_id DROP NOT NULL;
    UPDATE deliveries d SET subscription_id = NULL,
        state = CASE WHEN d.state = 'pending' THEN 'cancelled' ELSE d.state END
    FROM events e
    WHERE e.id = d.event_id AND NOT EXISTS (
        SELECT 1 FROM subscriptions s
        WHERE s.id = d.subscription_id AND s.topic = e.topic AND s.created_at <= d.created_at
    );
    ALTER TABLE deliveries ADD CONSTRAINT deliveries_subscription_fkey
        FOREIGN KEY (subscription_id) REFERENCES subscriptions (id);
    ALTER TABLE deliveries ADD COLUMN claim_generation integer NOT NULL DEFAULT 0;
    """,
    # 5: every subscription request is kept and verified in arrival order per (topic, callback),
    # hosts round-robin; tokens carry audiences and can be revoked; requests and subscriptions
    # record the token that asked.
    """
    CREATE INDEX intents_by_pair ON intents (topic, callback, id);
    ALTER TABLE intents ADD COLUMN callback_host text NOT NULL DEFAULT '';
    CREATE INDEX intents_by_host ON intents (callback_host, claim_expires);
    ALTER TABLE tokens ADD COLUMN audiences text[];
    ALTER TABLE tokens ADD COLUMN revoked_at double precision;
    ALTER TABLE intents ADD COLUMN token_id bigint;
    ALTER TABLE subscriptions ADD COLUMN token_id bigint;
    """,
    # 6: deliveries counted per state as they change, so /metrics reads a few rows instead of
    # counting every delivery; triggers keep the counts in the transaction that makes the change,
    # whoever makes it. Unlike SQLite's one writer, several transactions (and nodes) change
    # deliveries at once, and one counter row per state would make every publish and settlement
    # wait for the one before it to commit: each state's count is spread over COUNT_SHARDS rows,
    # a connection adding to its own (its backend pid's), and read as their sum. The triggers
    # run once per statement, over its transition tables, not once per row.
    """
    CREATE TABLE delivery_counts (
        state text    NOT NULL,
        shard integer NOT NULL,
        n     bigint  NOT NULL,
        PRIMARY KEY (state, shard)
    );
    INSERT INTO delivery_counts (state, shard, n)
        SELECT state, 0, COUNT(*) FROM deliveries GROUP BY state;

    CREATE FUNCTION delivery_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO delivery_counts AS c (state, shard, n)
            SELECT state, pg_backend_pid() % 16, COUNT(*) FROM new_rows GROUP BY state
            ON CONFLICT (state, shard) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    END $$;
    CREATE FUNCTION delivery_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO delivery_counts AS c (state, shard, n)
            SELECT state, pg_backend_pid() % 16, -COUNT(*) FROM old_rows GROUP BY state
            ON CONFLICT (state, shard) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    END $$;
    CREATE FUNCTION delivery_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO delivery_counts AS c (state, shard, n)
            SELECT state, pg_backend_pid() % 16, SUM(k) FROM (
                SELECT o.state, -1 AS k FROM old_rows o JOIN new_rows w USING (id)
                WHERE o.state <> w.state
                UNION ALL
                SELECT w.state, 1 FROM old_rows o JOIN new_rows w USING (id)
                WHERE o.state <> w.state
            ) AS moved GROUP BY state
            ON CONFLICT (state, shard) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
    END $$;
    CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_add();
    CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_remove();
    CREATE TRIGGER delivery_counts_update AFTER UPDATE ON deliveries
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_move();
    """,
    # 7: inbound sources (see the SQLite form).
    """
    CREATE TABLE sources (
        name       text PRIMARY KEY,
        vendor     text NOT NULL,
        secret     bytea NOT NULL,
        options    text NOT NULL DEFAULT '{}',
        created_at double precision NOT NULL
    );
    """,
    # 8: the janitor's purge reads only what it removes (see the SQLite form). The predicate is
    # written as the purge writes it, so the planner can prove the query implies it.
    """
    CREATE INDEX deliveries_finished
        ON deliveries (updated_at) WHERE state IN ('delivered', 'cancelled');
    CREATE INDEX events_by_age ON events (created_at);
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    """,
    # 9: SET signing keys, one key set every node signs with. Private keys are sealed PEMs
    # (hub.sealing, the hub's secret key); the public JWK is plain. The one row of
    # signing_key_set makes "one key set" a constraint, and its generation, raised at every
    # change, is what each node reads once a second to see a rotation.
    """
    CREATE TABLE signing_keys (
        kid         text PRIMARY KEY,
        alg         text             NOT NULL,
        state       text             NOT NULL CHECK (state IN ('pending', 'active', 'retiring')),
        created_at  double precision NOT NULL,
        activate_at double precision,
        public_jwk  text             NOT NULL,
        private_key bytea            NOT NULL
    );
    CREATE TABLE signing_key_set (
        id         integer          PRIMARY KEY CHECK (id = 1),
        generation bigint           NOT NULL,
        updated_at double precision NOT NULL
    );
    """,
    # 10: the claims each subscription holds,
    # on every node, read at each claim so that the bound per subscription holds across nodes
    # (`claims.claim`). Only claimed rows are in it: a few per subscription, whatever the
    # backlog.
    """
    CREATE INDEX deliveries_claimed ON deliveries (subscription_id) WHERE claimed_by IS NOT NULL;
    """,
)
