"""`sethub sources add|list|remove`: the identity providers whose native webhooks the hub takes
at `/ingest/NAME`. Works on the database file; a running hub sees a change at the next webhook.

Settings (the database, the public URL that `url` is built from, the key that seals secrets) load
as for `sethub serve`: flags, then SETHUB_* variables, then the config file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from ..config import Settings
from ..intake.bridges.sources import InvalidSource, new_source, source_url
from ..store import SealingError, Source, SourceExists, StoreOpenError
from .examples import with_examples
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

VENDORS = ("logto", "loginradius", "cidaas", "asgardeo")


def _common(parser: argparse.ArgumentParser) -> None:
    add_setting_flags(parser, ["db", "public_url"])
    add_config_flag(parser)


EXAMPLES = {
    "add": "# Logto's webhooks in at /ingest/logto, signed with the key Logto shows\n"
    "sethub sources add logto --vendor logto --secret SIGNING_KEY",
    "list": "sethub sources list",
    "remove": "sethub sources remove logto",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sources", help="manage inbound identity-provider webhooks",
        **with_examples(*EXAMPLES.values()),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="register a source; prints JSON {name, vendor, url, secret} as its last line",
        **with_examples(EXAMPLES["add"]),
    )
    add.add_argument("name")
    add.add_argument("--vendor", required=True, choices=VENDORS)
    add.add_argument("--secret", default=None, help="the webhook secret (generated if omitted)")
    add.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="a vendor detail (docs/bridges.md), repeatable")
    _common(add)
    add.set_defaults(func=run_add)
    listing = actions.add_parser(
        "list", help="list sources (JSON lines, no secrets)", **with_examples(EXAMPLES["list"])
    )
    _common(listing)
    listing.set_defaults(func=run_list)
    remove = actions.add_parser(
        "remove", help="remove a source", **with_examples(EXAMPLES["remove"])
    )
    remove.add_argument("name")
    _common(remove)
    remove.set_defaults(func=run_remove)


def _fail(message: str, code: int = 1) -> int:
    print(f"sethub: {message}", file=sys.stderr)
    return code


def run_add(args: argparse.Namespace) -> int:
    options: dict[str, str] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(f"--option {item!r} is not KEY=VALUE", 2)
        options[key] = value
    settings = command_settings(args)
    try:
        source = new_source(args.name, args.vendor, args.secret, options, now=time.time())
        asyncio.run(_add(settings, source))
    except (StoreOpenError, InvalidSource, SourceExists) as exc:
        return _fail(str(exc))
    url = source_url(settings.base_url, source.name)
    print(f"registered {source.vendor} source {source.name!r}; paste the url (and the secret, "
          "unless the vendor made it) into its webhook settings:", file=sys.stderr)
    print(json.dumps({"name": source.name, "vendor": source.vendor, "url": url,
                      "secret": source.secret.decode()}))
    return 0


async def _add(settings: Settings, source: Source) -> None:
    store = await open_existing_store(settings)
    try:
        await store.sources.add(source)
    finally:
        await store.close()


def run_list(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    try:
        sources = asyncio.run(_list(settings))
    except (StoreOpenError, SealingError) as exc:
        return _fail(str(exc))
    for source in sources:
        print(json.dumps({"name": source.name, "vendor": source.vendor,
                          "url": source_url(settings.base_url, source.name),
                          "options": dict(source.options)}))
    return 0


async def _list(settings: Settings) -> list[Source]:
    store = await open_existing_store(settings)
    try:
        return await store.sources.listing()
    finally:
        await store.close()


def run_remove(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    try:
        removed = asyncio.run(_remove(settings, args.name))
    except StoreOpenError as exc:
        return _fail(str(exc))
    if not removed:
        return _fail(f"no source named {args.name!r}")
    print(f"removed source {args.name!r}", file=sys.stderr)
    return 0


async def _remove(settings: Settings, name: str) -> bool:
    store = await open_existing_store(settings)
    try:
        return await store.sources.remove(name)
    finally:
        await store.close()
