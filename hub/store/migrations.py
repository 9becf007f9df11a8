"""One list of numbered schema migrations for both backends.

Migration N has a SQLite form (`sqlite/schema.py`) and a PostgreSQL form (`postgres/schema.py`);
both make the same tables with the same meaning. A database records the last migration applied
(SQLite in `PRAGMA user_version`, as every earlier sethub did, so existing files upgrade in place;
PostgreSQL in its `schema_migrations` table), and opening it applies the ones after that, in
order, each in its own transaction. A database that has a migration this code does not know was
made by a newer sethub: it is refused, never touched.

Adding a migration means adding both forms at the end of both lists: the lists are paired by
position, and a list longer than the other stops the hub at import, naming the migration whose
other form is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import StoreOpenError
from .postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from .records import SchemaStatus
from .sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

__all__ = ["LATEST", "MIGRATIONS", "Migration", "pending", "status"]


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    sqlite: str
    postgres: str


def _paired(sqlite: tuple[str, ...], postgres: tuple[str, ...]) -> tuple[Migration, ...]:
    if len(sqlite) != len(postgres):
        first_unpaired = min(len(sqlite), len(postgres)) + 1
        missing = "PostgreSQL" if len(sqlite) > len(postgres) else "SQLite"
        raise RuntimeError(f"schema migration {first_unpaired} has no {missing} form")
    return tuple(
        Migration(number, lite, pg)
        for number, (lite, pg) in enumerate(zip(sqlite, postgres, strict=True), start=1)
    )


MIGRATIONS = _paired(SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS)
LATEST = len(MIGRATIONS)


def status(version: int) -> SchemaStatus:
    return SchemaStatus(version=version, latest=LATEST)


def pending(version: int, *, database: str) -> tuple[Migration, ...]:
    """The migrations to apply to a database at `version`; StoreOpenError if it is newer than
    this code (`database` names it in the message: a path or a password-free URL)."""
    if version > LATEST:
        raise StoreOpenError(
            f"database {database} has schema version {version}, newer than this sethub knows"
            f" ({LATEST}): run the sethub that made it, or a newer one"
        )
    return MIGRATIONS[version:]
