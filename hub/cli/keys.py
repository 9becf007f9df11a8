"""`sethub keys generate|list|rotate|retire|jwks`: the SET signing keys, where `serve` keeps them.

A hub on SQLite keeps them in its key directory (--keys-dir); hub nodes on one PostgreSQL
database keep them in the database, sealed with the hub's secret key, and these commands work
there when --db (SETHUB_DB) is a postgresql:// URL. A running hub picks up a change either way,
within a second, so rotation needs no restart.

Each command that changes the set reads it, makes its change and stores it; in the database,
the store refuses a change made on a set another writer changed meanwhile, and the command is
made again on the new set (`CHANGE_ATTEMPTS`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from set_tokens import ALGORITHMS, ConfigurationError, KeySet, SigningKey

from ..config import Settings
from ..database_url import PostgresURL
from ..signing.keydir import problem
from ..signing.stored_keys import key_set_of, records_of
from ..store import (
    KeySetChanged,
    SealingError,
    SigningKeysRepository,
    Store,
    StoreUnavailableError,
)
from .examples import with_examples
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

DEFAULT_GRACE_SECONDS = 3600.0
CHANGE_ATTEMPTS = 3  # a change made on a set another writer changed meanwhile is made again
# Where `serve` keeps its keys: the keys dir, or (on PostgreSQL) the database and its secret key.
WHERE_FLAGS = ["keys_dir", "db", "secret_key_file"]


EXAMPLES = {
    "generate": "sethub keys generate --alg ES256",
    "list": "sethub keys list",
    "rotate": "# publish a new key now; it signs a day later, once receivers have fetched it\n"
    "sethub keys rotate --grace 86400",
    "retire": "# stop publishing the former key (its KID as sethub keys list shows it)\n"
    "sethub keys retire KID",
    "jwks": "sethub keys jwks",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys", help="manage the SET signing keys", **with_examples(*EXAMPLES.values())
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, **with_examples(EXAMPLES[name]))
        add_setting_flags(sub, WHERE_FLAGS)
        add_config_flag(sub)
        return sub

    generate = add("generate", "create the key set, or add an active key to it")
    generate.add_argument("--alg", choices=ALGORITHMS, default="RS256")
    generate.add_argument("--bits", type=int, choices=(2048, 3072, 4096), default=2048)
    generate.set_defaults(func=run_generate)
    add("list", "list the keys and their states").set_defaults(func=run_list)
    rotate = add("rotate", "publish a new key now; it signs after the grace period")
    rotate.add_argument(
        "--alg", choices=ALGORITHMS, default=None, help="default: the active key's algorithm"
    )
    rotate.add_argument("--bits", type=int, choices=(2048, 3072, 4096), default=2048)
    rotate.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="seconds before the new key signs (receivers fetch it meanwhile)",
    )
    rotate.set_defaults(func=run_rotate)
    retire = add("retire", "stop publishing a former key")
    retire.add_argument(
        "kid", help="the key's id; write `-- KID` for an imported kid that starts with '-'"
    )
    retire.set_defaults(func=run_retire)
    add("jwks", "print the public JWKS").set_defaults(func=run_jwks)


# A change to the key set: the set as it is (None: there is none yet) -> the new set, and
# what to tell the operator.
Change = Callable[[KeySet | None], tuple[KeySet, str]]


class _NoKeySet(Exception):
    """There is no key set to read or change, and the command needs one."""


def _fail(message: str) -> int:
    print(f"sethub: {message}", file=sys.stderr)
    return 1


def _in_database(settings: Settings) -> bool:
    return isinstance(settings.db, PostgresURL)


def _where(settings: Settings) -> str:
    return f"database {settings.db}" if _in_database(settings) else str(settings.keys_dir)


def _needs(keys: KeySet | None, settings: Settings) -> KeySet:
    """`keys`, for a command that needs a key set; if there is none, why, in a few words."""
    if keys is not None:
        return keys
    if not _in_database(settings):
        return KeySet.load(settings.keys_dir)  # raises, naming what is wrong with the directory
    raise _NoKeySet(
        f"no signing keys in {_where(settings)}: start the hub once, or run sethub keys generate"
    )


def _shared_keys(store: Store) -> SigningKeysRepository:
    if store.signing_keys is None:  # a PostgreSQL store always has them
        raise RuntimeError("this store keeps no signing keys")
    return store.signing_keys


def _read(settings: Settings) -> KeySet | None:
    """The key set where `serve` keeps it, or None if there is none."""
    if not _in_database(settings):
        directory = settings.keys_dir
        return KeySet.load(directory) if KeySet.exists(directory) else None
    return asyncio.run(_read_database(settings))


async def _read_database(settings: Settings) -> KeySet | None:
    store = await open_existing_store(settings)
    try:
        stored = await _shared_keys(store).load()
    finally:
        await store.close()
    return key_set_of(stored) if stored.keys else None


def _change(settings: Settings, change: Change) -> str:
    """Make `change` where `serve` keeps the keys; what it says it did."""
    if _in_database(settings):
        return asyncio.run(_change_database(settings, change))
    directory = settings.keys_dir
    keys, said = change(KeySet.load(directory) if KeySet.exists(directory) else None)
    keys.save(directory)
    return said


async def _change_database(settings: Settings, change: Change) -> str:
    store = await open_existing_store(settings)
    try:
        keys = _shared_keys(store)
        for _ in range(CHANGE_ATTEMPTS):
            stored = await keys.load()
            changed, said = change(key_set_of(stored) if stored.keys else None)
            if stored.generation == 0:
                _, created = await keys.create(records_of(changed))
                if created:
                    return said
                continue  # a hub node created the set meanwhile: change that one
            try:
                await keys.replace(records_of(changed), generation=stored.generation)
            except KeySetChanged:
                continue
            return said
        raise KeySetChanged(
            "the signing keys kept changing while this change was made: run it again"
        )
    finally:
        await store.close()


def _run(args: argparse.Namespace, work: Callable[[Settings], str]) -> int:
    """`work` on the keys `serve` uses, printing what it says; failures as one line."""
    settings = command_settings(args)
    try:
        said = work(settings)
    except (
        ConfigurationError,
        _NoKeySet,
        KeySetChanged,
        SealingError,
        StoreUnavailableError,
    ) as exc:
        return _fail(str(exc))
    except OSError as exc:
        where = settings.keys_dir
        return _fail(f"cannot write keys in {where}: {problem(exc, where)}")
    print(said)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    def generate(keys: KeySet | None) -> tuple[KeySet, str]:
        if keys is None:
            keys = KeySet.with_new_key(args.alg, bits=args.bits)
            key = keys.signing_key()
        else:
            key = SigningKey.generate(args.alg, bits=args.bits)
            keys.add(key, grace=0)
        return keys, f"generated {key.alg} key {key.kid}"

    return _run(args, lambda settings: f"{_change(settings, generate)} in {_where(settings)}")


def _stamp(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _listing(settings: Settings) -> str:
    keys = _needs(_read(settings), settings)
    keys.signing_key()  # apply any promotion that is due
    lines = [f"{'kid':<44} {'alg':<6} {'state':<9} {'created':<21} activates"]
    for key, state, created, activate_at in keys.members():
        lines.append(
            f"{key.kid:<44} {key.alg:<6} {state:<9} {_stamp(created):<21} {_stamp(activate_at)}"
        )
    return "\n".join(lines)


def run_list(args: argparse.Namespace) -> int:
    return _run(args, _listing)


def run_rotate(args: argparse.Namespace) -> int:
    def rotate(settings: Settings) -> str:
        def change(keys: KeySet | None) -> tuple[KeySet, str]:
            keys = _needs(keys, settings)
            key = keys.rotate(args.alg, grace=args.grace, bits=args.bits)
            when = _stamp(time.time() + args.grace)
            return keys, f"published {key.alg} key {key.kid}; it signs from {when}"

        return _change(settings, change)

    return _run(args, rotate)


def run_retire(args: argparse.Namespace) -> int:
    def retire(settings: Settings) -> str:
        def change(keys: KeySet | None) -> tuple[KeySet, str]:
            keys = _needs(keys, settings)
            keys.retire(args.kid)
            return keys, f"retired key {args.kid}"

        return _change(settings, change)

    return _run(args, retire)


def run_jwks(args: argparse.Namespace) -> int:
    return _run(
        args, lambda settings: json.dumps(_needs(_read(settings), settings).jwks(), indent=2)
    )
