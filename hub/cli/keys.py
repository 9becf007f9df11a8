"""`sethub keys generate|list|rotate|retire|jwks`: the SET signing keys in a key directory.

A running hub reloads the directory when it changes, so rotation needs no restart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from set_tokens import ALGORITHMS, ConfigurationError, KeySet, SigningKey

from ..signing.keydir import problem
from .examples import with_examples
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

DEFAULT_GRACE_SECONDS = 3600.0


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
        add_setting_flags(sub, ["keys_dir"])
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


def _directory(args: argparse.Namespace) -> Path:
    """The keys directory `serve` uses: --keys-dir, SETHUB_KEYS_DIR or the config file."""
    return command_settings(args).keys_dir


def _fail(message: str) -> int:
    print(f"sethub: {message}", file=sys.stderr)
    return 1


def run_generate(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        if KeySet.exists(directory):
            keys = KeySet.load(directory)
            key = SigningKey.generate(args.alg, bits=args.bits)
            keys.add(key, grace=0)
        else:
            keys = KeySet.with_new_key(args.alg, bits=args.bits)
            key = keys.signing_key()
        keys.save(directory)
    except ConfigurationError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write keys in {directory}: {problem(exc, directory)}")
    print(f"generated {key.alg} key {key.kid} in {directory}")
    return 0


def _stamp(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_list(args: argparse.Namespace) -> int:
    try:
        keys = KeySet.load(_directory(args))
        keys.signing_key()  # apply any promotion that is due
    except ConfigurationError as exc:
        return _fail(str(exc))
    print(f"{'kid':<44} {'alg':<6} {'state':<9} {'created':<21} activates")
    for key, state, created, activate_at in keys.members():
        print(f"{key.kid:<44} {key.alg:<6} {state:<9} {_stamp(created):<21} {_stamp(activate_at)}")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        keys = KeySet.load(directory)
        key = keys.rotate(args.alg, grace=args.grace, bits=args.bits)
        keys.save(directory)
    except ConfigurationError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write keys in {directory}: {problem(exc, directory)}")
    when = _stamp(time.time() + args.grace)
    print(f"published {key.alg} key {key.kid}; it signs from {when}")
    return 0


def run_retire(args: argparse.Namespace) -> int:
    directory = _directory(args)
    try:
        keys = KeySet.load(directory)
        keys.retire(args.kid)
        keys.save(directory)
    except ConfigurationError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write keys in {directory}: {problem(exc, directory)}")
    print(f"retired key {args.kid}")
    return 0


def run_jwks(args: argparse.Namespace) -> int:
    try:
        print(json.dumps(KeySet.load(_directory(args)).jwks(), indent=2))
    except ConfigurationError as exc:
        return _fail(str(exc))
    return 0
