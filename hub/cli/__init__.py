"""The `sethub` command. Each subcommand lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import deliveries, keys, publish, serve, sources, tokens, verify

__all__ = ["main"]

SUBCOMMANDS = (serve, tokens, sources, keys, publish, verify, deliveries)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sethub", description="A WebSub hub for identity events (Security Event Tokens)."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
