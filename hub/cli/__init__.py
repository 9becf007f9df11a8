"""The `sethub` command. Each subcommand lives in its own module exposing `register(subparsers)`.

Errors a user can fix end here as one line on stderr, `sethub: ...`, and a non-zero exit, never a
traceback: bad settings exit 2 (like bad arguments), a database or key directory that cannot be
used exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..config import ConfigError
from ..signing.keydir import SigningKeysError
from ..store import StoreOpenError
from . import db, deliveries, keys, listen, publish, serve, sources, tokens, verify

__all__ = ["main"]

SUBCOMMANDS = (serve, tokens, sources, keys, publish, listen, verify, deliveries, db)
# Every file sethub writes (the database and its -wal/-shm, signing keys, the key manifest) holds
# secrets or personal data: the owner's alone, whatever umask the shell was started with.
PRIVATE_UMASK = 0o077
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sethub", description="A WebSub hub for identity events (Security Event Tokens)."
    )
    parser.add_argument("--version", action="version", version=f"sethub {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (StoreOpenError, SigningKeysError) as exc:
        return _fail(str(exc), EXIT_FAILURE)


def _fail(message: str, code: int) -> int:
    print(f"sethub: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
