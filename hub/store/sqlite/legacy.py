"""Files whose version number does not say what they hold: bring them to what later code knows.

Two kinds exist.

Schema 1, made before migration 1 was frozen.
The first sethub commits grew migration 1 in place instead of adding migrations, so a file at
schema version 1 has one of three shapes: the first (no per-host key, audiences, event types or
idempotency keys), the second (no failing/disabled columns), or the final one that migration 2
builds on. The same early commits stored hub.secrets as given, before the `p`/`e` stored form
(`hub.sealing`) existed. `complete_schema_1` runs, in the upgrade's transaction, on a file at
version 1 only: it adds what its shape lacks, with the values the code of the time would have
written, and marks such secrets as stored in plaintext. Nothing that is there is changed.

Schema 4, made between two merges that each added a migration 4. Files written by the sethub of
that time (tokens with audiences, every request kept) got the token-and-intent migration as
number 4; the merge that followed made the table rebuild of deliveries number 4 and the
token-and-intent one number 5. Such a file says 4 without the rebuild: upgrading it by number
would skip the rebuild and apply the other again. `finish_subscribe_first_4` recognises it (no
`claim_generation` column) and does the rebuild, keeping the owning token of each subscription
(the rebuild copies the columns it knows), so that it is at 5.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from ...sealing import PLAIN, SEALED

__all__ = ["complete_schema_1", "finish_subscribe_first_4", "is_subscribe_first_4"]

# table -> (column, declaration) that the final migration 1 has, in the order it has them
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "subscriptions": (
        ("callback_host", "TEXT NOT NULL DEFAULT ''"),
        ("failing_since", "REAL"),
        ("disabled_at", "REAL"),
        ("audience", "TEXT"),
        ("event_types", "TEXT"),
    ),
    "intents": (("audience", "TEXT"), ("event_types", "TEXT")),
    "events": (("kind", "TEXT NOT NULL DEFAULT 'content'"), ("event_type", "TEXT")),
    "deliveries": (("rejection", "TEXT"),),
}
_MISSING_OBJECTS = (
    "CREATE TABLE IF NOT EXISTS idempotency_keys ("
    " key TEXT PRIMARY KEY, response TEXT NOT NULL, created_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS subscriptions_by_host ON subscriptions (callback_host, expires_at)",
)
TABLES_WITH_SECRETS = ("subscriptions", "intents")
Connection = sqlite3.Connection


def complete_schema_1(conn: Connection) -> None:
    """Inside the caller's transaction, on a database at schema version 1."""
    for table, columns in _COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column, declaration in columns:
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        if table == "subscriptions" and "callback_host" not in present:
            _fill_callback_hosts(conn)
    for statement in _MISSING_OBJECTS:
        conn.execute(statement)
    if _secrets_stored_as_given(conn):
        for table in TABLES_WITH_SECRETS:
            rows = conn.execute(f"SELECT id, secret FROM {table} WHERE secret IS NOT NULL")
            conn.executemany(
                f"UPDATE {table} SET secret = ? WHERE id = ?",
                [(PLAIN + bytes(secret), row_id) for row_id, secret in rows.fetchall()],
            )


def _fill_callback_hosts(conn: Connection) -> None:
    """The per-host key as the code that added the column computed it: the callback's host."""
    rows = conn.execute("SELECT id, callback FROM subscriptions").fetchall()
    conn.executemany(
        "UPDATE subscriptions SET callback_host = ? WHERE id = ?",
        [((urlsplit(callback).hostname or "").lower(), sid) for sid, callback in rows],
    )


def _secrets_stored_as_given(conn: Connection) -> bool:
    """Whether this file's secrets predate the stored form. A file holds one form or the other
    (the code that wrote it had sealing or had not); a secret that starts with neither marker
    shows the older one. A file whose every secret as given happens to start with `p` or `e` is
    taken to be in the stored form: nothing in the file can tell them apart."""
    markers = (PLAIN, SEALED)
    for table in TABLES_WITH_SECRETS:
        for (secret,) in conn.execute(f"SELECT secret FROM {table} WHERE secret IS NOT NULL"):
            if bytes(secret[:1]) not in markers:
                return True
    return False


def is_subscribe_first_4(conn: Connection) -> bool:
    """Whether a file at version 4 has the token-and-intent migration instead of the rebuild."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
    return "claim_generation" not in columns


def finish_subscribe_first_4(conn: Connection, rebuild: list[str]) -> None:
    """Inside the caller's transaction: run the rebuild's statements, then give subscriptions
    back the column the rebuild does not copy, with its values."""
    owners = conn.execute(
        "SELECT id, token_id FROM subscriptions WHERE token_id IS NOT NULL"
    ).fetchall()
    for statement in rebuild:
        conn.execute(statement)
    conn.execute("ALTER TABLE subscriptions ADD COLUMN token_id INTEGER")
    conn.executemany(
        "UPDATE subscriptions SET token_id = ? WHERE id = ?",
        [(token_id, subscription_id) for subscription_id, token_id in owners],
    )
