"""`sethub tokens create`: mint a publisher token. It is printed once and stored only as a hash."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from ..config import Settings
from ..intake.auth import create_token
from ..store import StoreOpenError
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

SCOPE_HELP = "space-separated: publish, publish:TOPIC or admin (default publish)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokens", help="manage publisher tokens")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it as the last line")
    add_setting_flags(create, ["db"])
    add_config_flag(create)
    create.add_argument("--scope", default="publish", help=SCOPE_HELP)
    create.add_argument("--label", default=None, help="a note to recognise the token by")
    create.set_defaults(func=run_create)


async def _create(settings: Settings, scope: str, label: str | None) -> str:
    store = await open_existing_store(settings)
    try:
        return await create_token(store, scope=scope, label=label, now=time.time())
    finally:
        await store.close()


def run_create(args: argparse.Namespace) -> int:
    if not args.scope.split():
        print("sethub: --scope must not be empty", file=sys.stderr)
        return 2
    try:
        token = asyncio.run(_create(command_settings(args), args.scope, args.label))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    print(f"created a token with scope {args.scope!r}; it is shown only once:", file=sys.stderr)
    print(token)
    return 0
