"""`sethub verify TOKEN --jwks URL|FILE --issuer X --audience Y [--max-age S]`: check a SET as a
receiver would (its age included: `--max-age`, 3 days by default).

Prints the decoded claims on success (exit 0), the RFC 8935 code and reason on failure (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from set_tokens import (
    ALGORITHMS,
    DEFAULT_MAX_AGE,
    ConfigurationError,
    RemoteJwks,
    SetError,
    StaticJwks,
    Verifier,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="verify a Security Event Token")
    parser.add_argument("token", help="the compact SET, or - to read it from standard input")
    parser.add_argument("--jwks", required=True, help="JWKS URL (http/https) or file")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True, action="append")
    parser.add_argument(
        "--alg",
        action="append",
        choices=ALGORITHMS,
        default=None,
        help="allowed algorithm (repeatable; default: all supported)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=DEFAULT_MAX_AGE,
        help=f"oldest SET accepted, in seconds since its iat (default {DEFAULT_MAX_AGE:.0f}: "
        "3 days, a default hub's whole retry schedule)",
    )
    parser.set_defaults(func=run)


async def _verify(args: argparse.Namespace, token: str) -> dict[str, object]:
    if args.jwks.startswith(("http://", "https://")):
        source: RemoteJwks | StaticJwks = RemoteJwks(args.jwks)
    else:
        source = StaticJwks(json.loads(await asyncio.to_thread(Path(args.jwks).read_text)))
    verifier = Verifier(
        issuer=args.issuer,
        audience=args.audience,
        algorithms=args.alg or list(ALGORITHMS),
        jwks=source,
        max_age=args.max_age,
    )
    verified = await verifier.verify(token)
    return {
        "header": verified.header,
        "claims": verified.claims.to_claims(),
        "event": verified.event_type.name if verified.event_type else None,
    }


def run(args: argparse.Namespace) -> int:
    from_stdin = args.token == "-"  # noqa: S105 (the stdin marker, not a secret)
    compact = sys.stdin.read().strip() if from_stdin else args.token.strip()
    try:
        result = asyncio.run(_verify(args, compact))
    except SetError as error:
        print(f"{error.err}: {error.description}")
        return 1
    except (ConfigurationError, OSError, ValueError) as exc:
        print(f"sethub: cannot verify: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
