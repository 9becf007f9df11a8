"""Sealing the hub.secrets an earlier start stored in plaintext, once the operator sets a key.

Without a secret key a hub.secret is stored as given. Setting the key later must not leave the
secrets already stored readable in the file: they are sealed in place, with SQLite's
`secure_delete` on so the old bytes are zeroed in their pages instead of left as free space.
"""

from __future__ import annotations

from ...sealing import PLAIN, SecretBox
from .database import Connection

__all__ = ["seal_plaintext"]

# (table, key column) of every table that holds a sealed secret
TABLES_WITH_SECRETS = (("subscriptions", "id"), ("intents", "id"), ("sources", "name"))


def seal_plaintext(conn: Connection, box: SecretBox) -> int:
    """Seal every plaintext secret with `box` inside the caller's transaction; how many."""
    (secure_delete,) = conn.execute("PRAGMA secure_delete").fetchone()
    conn.execute("PRAGMA secure_delete = ON")
    try:
        sealed = 0
        for table, key in TABLES_WITH_SECRETS:
            rows = conn.execute(
                f"SELECT {key} AS key, secret FROM {table} WHERE substr(secret, 1, 1) = ?",
                (PLAIN,),
            ).fetchall()
            for row in rows:
                conn.execute(
                    f"UPDATE {table} SET secret = ? WHERE {key} = ?",
                    (box.seal(box.open(row["secret"])), row["key"]),
                )
            sealed += len(rows)
        return sealed
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
