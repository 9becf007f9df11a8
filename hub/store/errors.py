"""What the store tells the rest of the hub when it cannot do its work, whatever the database.

    StoreError
    ├── StoreOpenError          the database cannot be opened or migrated (at start-up)
    └── StoreUnavailableError   the database cannot take this work now: unreachable, locked,
                                full; nothing of the unit of work was kept, and it may be retried

Backends translate their own errors into these at their boundary (`raise ... from exc`), so the
rest of the hub never sees a driver's exception. A backend error that means a bug (a bad
statement, a constraint the code should have kept) is not translated.
"""

from __future__ import annotations

__all__ = ["StoreError", "StoreOpenError", "StoreUnavailableError"]


class StoreError(RuntimeError):
    """Base of the store's own errors."""


class StoreOpenError(StoreError):
    """The database cannot be opened or migrated; the message says why."""


class StoreUnavailableError(StoreError):
    """The database cannot do this unit of work now; the message is the cause, in words safe to
    show an operator (no password, no data)."""
