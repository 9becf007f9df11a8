"""The `sethub` command. Each subcommand lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import deliveries, keys, publish, serve, tokens, verify

__all__ = ["main"]

SUBCOMMANDS = (serve, tokens, keys, publish, verify, deliveries)
# Every file sethub writes (the database and its -wal/-shm, signing keys, the key manifest) holds
# secrets or personal data: the owner's alone, whatever umask the shell was started with.
PRIVATE_UMASK = 0o077


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sethub", description="A WebSub hub for identity events (Security Event Tokens)."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
