"""`sethub tokens create`: mint a publisher or subscriber token. It is printed once and stored only
as a hash."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from ..intake.auth import InvalidAudience, create_token, normalize_audiences
from ..store import StoreOpenError, open_store

__all__ = ["register"]

SCOPE_HELP = (
    "space-separated: publish, publish:TOPIC, subscribe, subscribe:TOPIC or admin (default"
    " publish)"
)
AUDIENCE_HELP = (
    "a SET audience (aud) a subscriber with this token may ask for (repeatable); without it,"
    " only the callback's own origin"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokens", help="manage publisher and subscriber tokens")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it as the last line")
    create.add_argument("--db", type=Path, default=Path("sethub.db"), help="the hub's database")
    create.add_argument("--scope", default="publish", help=SCOPE_HELP)
    create.add_argument(
        "--audience", action="append", default=[], metavar="AUD", help=AUDIENCE_HELP
    )
    create.add_argument("--label", default=None, help="a note to recognise the token by")
    create.set_defaults(func=run_create)


async def _create(db: Path, scope: str, label: str | None, audiences: list[str]) -> str:
    store = await open_store(db)
    try:
        return await create_token(
            store, scope=scope, label=label, now=time.time(), audiences=audiences
        )
    finally:
        await store.close()


def run_create(args: argparse.Namespace) -> int:
    if not args.scope.split():
        print("sethub: --scope must not be empty", file=sys.stderr)
        return 2
    try:  # before the database is opened: a typo creates nothing
        normalize_audiences(args.audience)
    except InvalidAudience as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 2
    try:
        token = asyncio.run(_create(args.db, args.scope, args.label, args.audience))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    print(f"created a token with scope {args.scope!r}; it is shown only once:", file=sys.stderr)
    print(token)
    return 0
