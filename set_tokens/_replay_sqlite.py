"""Accepted jtis in an SQLite file: a receiver that restarts still refuses a SET it accepted
before, and several verifier processes on one file accept each SET once between them.

One row per accepted SET: the SHA-256 of (issuer, jti), so attacker-sized jtis and NUL bytes
never reach a column, and the time the row expires. A claim is one `INSERT ... ON CONFLICT`
statement: SQLite runs it under its write lock, so of two processes claiming one jti exactly one
succeeds, whatever the timing. Expired rows are deleted now and then by whoever claims.

The file is in WAL mode (readers do not wait for the writer). Each claim is flushed to disk
before it counts (`synchronous=FULL`): a SET acted on is remembered even after a power loss.
`fsync=False` skips that flush (`synchronous=NORMAL`: still safe when the process crashes or
restarts, but a power loss may forget the last claims) for receivers whose disk flushes are slow.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .errors import ConfigurationError, Unavailable

__all__ = ["SqliteReplayCache"]

DEFAULT_BUSY_TIMEOUT = 5.0  # seconds to wait for another process's write lock
PURGE_EVERY = 256  # claims between two deletions of expired rows
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS accepted_jti "
    "(key BLOB PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS accepted_jti_expiry ON accepted_jti (expires_at)",
)
CLAIM = (
    "INSERT INTO accepted_jti (key, expires_at) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE accepted_jti.expires_at <= ?"
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class SqliteReplayCache:
    """A `ReplayStore` in the SQLite file at `path` (created if missing); see the module doc."""

    def __init__(
        self, path: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, fsync: bool = True
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._claims = 0
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            for statement in SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the replay store {self.path}: {exc}") from exc

    def _run(self, sql: str, *params: object) -> tuple[int, list[tuple[Any, ...]]]:
        """One statement under the lock: (rows changed, rows read). A database that fails now
        makes the receiver answer 503, not reject the SET."""
        try:
            with self._lock:
                cursor = self._db.execute(sql, params)
                return cursor.rowcount, cursor.fetchall()
        except sqlite3.Error as exc:
            raise Unavailable(f"the replay store {self.path} cannot be used: {exc}") from exc

    def seen(self, key: str, *, now: float) -> bool:
        _, rows = self._run(
            "SELECT 1 FROM accepted_jti WHERE key = ? AND expires_at > ?", _digest(key), now
        )
        return bool(rows)

    def claim(self, key: str, *, expires_at: float, now: float) -> bool:
        self._claims += 1
        if self._claims % PURGE_EVERY == 0:
            self._run("DELETE FROM accepted_jti WHERE expires_at <= ?", now)
        changed, _ = self._run(CLAIM, _digest(key), expires_at, now)
        return changed == 1

    def forget(self, key: str) -> None:
        self._run("DELETE FROM accepted_jti WHERE key = ?", _digest(key))

    def __len__(self) -> int:
        _, [(count,)] = self._run("SELECT count(*) FROM accepted_jti")
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
