"""`sethub tokens create|list|revoke`: publisher and subscriber tokens.

A token is printed once, by `create`, and stored only as a hash. Revoking one works on the
database file directly: a running hub refuses the token within `FOUND_CACHE_SECONDS` (one second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from ..config import Settings
from ..intake.auth import (
    InvalidAudience,
    InvalidScope,
    create_token,
    normalize_audiences,
    normalize_scope,
)
from ..store import Revocation, StoreOpenError, Token
from .examples import with_examples
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

SCOPE_HELP = (
    "space-separated grants: publish, publish:NAME, subscribe, subscribe:NAME or admin, NAME a"
    " topic name such as login (default publish)"
)
AUDIENCE_HELP = (
    "a SET audience (aud) a subscriber with this token may ask for (repeatable); without it,"
    " only the callback's own origin"
)


EXAMPLES = {
    "create": "# a subscriber token for the login topic, then a publisher token\n"
    "SUBTOKEN=$(sethub tokens create --scope subscribe:login | tail -n 1)\n"
    "TOKEN=$(sethub tokens create --scope publish --label my-idp | tail -n 1)",
    "list": "sethub tokens list",
    "revoke": "sethub tokens revoke 3",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokens", help="manage publisher and subscriber tokens", **with_examples(*EXAMPLES.values())
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="create a token and print it as the last line",
        **with_examples(EXAMPLES["create"]),
    )
    add_setting_flags(create, ["db"])
    add_config_flag(create)
    create.add_argument("--scope", default="publish", help=SCOPE_HELP)
    create.add_argument(
        "--audience", action="append", default=[], metavar="AUD", help=AUDIENCE_HELP
    )
    create.add_argument("--label", default=None, help="a note to recognise the token by")
    create.set_defaults(func=run_create)
    listing = actions.add_parser(
        "list", help="list tokens as JSON lines: id, scope, audiences, label, created, revoked",
        **with_examples(EXAMPLES["list"]),
    )
    add_setting_flags(listing, ["db"])
    add_config_flag(listing)
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser(
        "revoke", help="stop a token working (by its id, see list)",
        **with_examples(EXAMPLES["revoke"]),
    )
    add_setting_flags(revoke, ["db"])
    add_config_flag(revoke)
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.set_defaults(func=run_revoke)


async def _create(settings: Settings, scope: str, label: str | None, audiences: list[str]) -> str:
    store = await open_existing_store(settings)
    try:
        return await create_token(
            store, scope=scope, label=label, now=time.time(), audiences=audiences
        )
    finally:
        await store.close()


def run_create(args: argparse.Namespace) -> int:
    try:  # before the database is opened: a typo creates nothing
        scope = normalize_scope(args.scope)
        normalize_audiences(args.audience)
    except (InvalidScope, InvalidAudience) as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 2
    try:
        token = asyncio.run(_create(command_settings(args), scope, args.label, args.audience))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    print(f"created a token with scope {scope!r}; it is shown only once:", file=sys.stderr)
    print(token)
    return 0


def _when(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _describe(token: Token) -> dict[str, object]:
    """What an operator may see of a token: never the token, nor its digest."""
    return {
        "id": token.id,
        "scope": token.scope,
        "audiences": list(token.audiences),
        "label": token.label,
        "created": _when(token.created_at),
        "revoked": _when(token.revoked_at),
    }


async def _list(settings: Settings) -> list[Token]:
    store = await open_existing_store(settings)
    try:
        return await store.tokens.listing()
    finally:
        await store.close()


def run_list(args: argparse.Namespace) -> int:
    try:
        tokens = asyncio.run(_list(command_settings(args)))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    for token in tokens:
        print(json.dumps(_describe(token)))
    return 0


async def _revoke(settings: Settings, token_id: int) -> Revocation:
    store = await open_existing_store(settings)
    try:
        return await store.tokens.revoke(token_id, now=time.time())
    finally:
        await store.close()


def run_revoke(args: argparse.Namespace) -> int:
    try:
        outcome = asyncio.run(_revoke(command_settings(args), args.id))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    if outcome is Revocation.UNKNOWN:
        print(f"sethub: no token has id {args.id} (see sethub tokens list)", file=sys.stderr)
        return 1
    if outcome is Revocation.ALREADY:
        print(f"token {args.id} was already revoked")
        return 0
    print(f"revoked token {args.id}; a running hub refuses it within a second")
    return 0
