"""Where the hub's database is: a SQLite file path, or a PostgreSQL URL.

`--db` / `SETHUB_DB` takes either. `postgresql://USER@HOST:PORT/DB` (or `postgres://`) selects
PostgreSQL; anything else is the path of a SQLite file, as it always was. Settings (which must not
import the store) and the store both read the choice from here, so it is made in one place.

A URL may carry a password. `PostgresURL` keeps it out of `str()` and `repr()`, so the URL can be
logged and printed (`sethub serve` prints where its database is); only `.dsn` has it, for the
driver. A password is better kept out of the URL altogether: the driver also reads PGPASSWORD and
~/.pgpass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["POSTGRES_SCHEMES", "DatabaseLocation", "PostgresURL", "is_postgres", "parse_database"]

POSTGRES_SCHEMES = ("postgresql", "postgres")
HIDDEN = "***"


@dataclass(frozen=True, slots=True)
class PostgresURL:
    """A PostgreSQL connection URL; printed without its password."""

    dsn: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> PostgresURL:
        """A URL with a postgresql:// or postgres:// scheme and a host; ValueError otherwise."""
        parts = urlsplit(text.strip())
        if parts.scheme.lower() not in POSTGRES_SCHEMES:
            raise ValueError(f"not a PostgreSQL URL: scheme {parts.scheme!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise ValueError("the PostgreSQL URL has a port that is not a number") from exc
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("the PostgreSQL URL names no host: postgresql://USER@HOST:PORT/DB")
        return cls(text.strip())

    @property
    def database(self) -> str:
        return urlsplit(self.dsn).path.lstrip("/")

    def __str__(self) -> str:
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:{HIDDEN}@{host}"))

    def __repr__(self) -> str:
        return f"PostgresURL({str(self)!r})"


DatabaseLocation = Path | PostgresURL


def is_postgres(text: str) -> bool:
    scheme, sep, _ = text.strip().partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


def parse_database(value: object) -> DatabaseLocation:
    """A `Path` for SQLite, a `PostgresURL` for PostgreSQL; ValueError for neither."""
    if isinstance(value, Path | PostgresURL):
        return value
    if not isinstance(value, str):
        raise ValueError("the database must be a file path or a postgresql:// URL")
    if is_postgres(value):
        return PostgresURL.parse(value)
    if not value.strip():
        raise ValueError("the database path is empty")
    return Path(value)
