"""What the store tells the rest of the hub when it cannot do its work, whatever the database.

    StoreError
    ├── StoreOpenError          the database cannot be opened or migrated (at start-up)
    │   └── SecretKeyRequired   signing keys kept in the database need the hub's secret key
    ├── StoreUnavailableError   the database cannot take this work now: locked, full, I/O error;
    │                           nothing of the unit of work was kept, and it may be retried
    ├── SourceExists            an inbound source of that name is registered already
    └── KeySetChanged           the stored signing keys changed since they were read

Backends translate their own errors into these at their boundary (`raise ... from exc`), so the
HTTP layer answers 503 without knowing which database is behind the store. A backend error that
means a bug (a bad statement, a constraint the code should have kept) is not translated.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KeySetChanged",
    "SecretKeyRequired",
    "SourceExists",
    "StoreError",
    "StoreHealth",
    "StoreOpenError",
    "StoreUnavailableError",
]


class StoreError(RuntimeError):
    """Base of the store's own errors."""


class StoreOpenError(StoreError):
    """The database file cannot be opened or migrated; the message says why."""


class StoreUnavailableError(StoreError):
    """The database cannot do this unit of work now; the message is the cause, in words safe to
    show an operator or a health probe (no paths, no data)."""


class SourceExists(StoreError):
    """A source of that name is already registered."""


class SecretKeyRequired(StoreOpenError):
    """The store keeps the signing keys' private parts sealed, and no secret key was given."""


class KeySetChanged(StoreError):
    """Another writer (a node's first start, another `sethub keys`) changed the stored key set
    after it was read: read it again and redo the change."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store takes writes, as its own writes have shown.

    `failure` is why the latest write failed, until a later write that changed data succeeds
    (or, if none comes, for a while: see `Database.health`); None while writes succeed.
    """

    failure: str | None = None
    failed_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None
