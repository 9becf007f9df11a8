"""`sethub db status|migrate`: where the database's schema stands, and bringing it up to date.

`sethub serve` migrates on start; these do it explicitly, before a deploy or to see what a start
would do. Both find the database as every other command does (`--db`, SETHUB_DB, `--config`) and
never create one: a path with no file, or a URL that does not connect, is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..config import Settings
from ..store import SchemaStatus, StoreOpenError
from .examples import with_examples
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]


EXAMPLES = {
    "status": "sethub db status --db sethub.db",
    "migrate": "# a PostgreSQL database, before the hub's nodes start on a new version\n"
    "sethub db migrate --db postgresql://sethub@127.0.0.1/sethub",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db", help="the database's schema: status and migrations",
        **with_examples(*EXAMPLES.values()),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="the schema version and the migrations pending (exit 1 if newer than sethub)",
        **with_examples(EXAMPLES["status"]),
    )
    migrate = actions.add_parser(
        "migrate", help="apply the pending migrations", **with_examples(EXAMPLES["migrate"])
    )
    for action, run in ((status, run_status), (migrate, run_migrate)):
        add_setting_flags(action, ["db"])
        add_config_flag(action)
        action.set_defaults(func=run)


def _describe(status: SchemaStatus) -> str:
    if status.newer_than_code:
        return (
            f"schema version {status.version}, newer than this sethub knows ({status.latest}):"
            " run a newer sethub"
        )
    pending = ", ".join(map(str, status.pending)) or "none"
    return f"schema version {status.version} of {status.latest}; pending migrations: {pending}"


async def _status(settings: Settings) -> SchemaStatus:
    store = await open_existing_store(settings, migrate=False)
    try:
        return await store.schema_status()
    finally:
        await store.close()


async def _migrate(settings: Settings) -> tuple[list[int], SchemaStatus]:
    store = await open_existing_store(settings, migrate=False)
    try:
        applied = await store.migrate()
        return applied, await store.schema_status()
    finally:
        await store.close()


def run_status(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    status = asyncio.run(_status(settings))
    print(f"database {settings.db}: {_describe(status)}")
    return 1 if status.newer_than_code else 0


def run_migrate(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    try:
        applied, status = asyncio.run(_migrate(settings))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    if applied:
        done = ", ".join(map(str, applied))
        print(f"database {settings.db}: applied migrations {done}; now at {status.version}")
    else:
        print(f"database {settings.db}: up to date at schema version {status.version}")
    return 0
