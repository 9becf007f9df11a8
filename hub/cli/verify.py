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
from typing import Any

from set_tokens import ALGORITHMS, ConfigurationError, RemoteJwks, SetError, StaticJwks, Verifier
from set_tokens.lowlevel import DEFAULT_MAX_AGE

from .examples import with_examples

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify a Security Event Token",
        **with_examples(
            "sethub verify \"$SET\" --jwks http://127.0.0.1:8080/.well-known/jwks.json \\\n"
            "    --issuer http://127.0.0.1:8080 --audience http://127.0.0.1:9001",
            "# the SET on standard input, the keys from a file (sethub keys jwks > jwks.json)",
            "sethub verify - --jwks jwks.json --issuer http://127.0.0.1:8080 \\\n"
            "    --audience http://127.0.0.1:9001 < set.jwt",
        ),
    )
    parser.add_argument("token", help="the compact SET, or - to read it from standard input")
    parser.add_argument("--jwks", required=True, help="JWKS URL (http/https) or file")
    parser.add_argument("--issuer", required=True, help="the iss the SET must carry (exactly)")
    parser.add_argument(
        "--audience",
        required=True,
        action="append",
        help="an aud this receiver accepts (repeatable: the SET must name one of them)",
    )
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


def _jwks_file(path: Path) -> dict[str, Any]:
    """A JWKS document from a file; ValueError naming the file when it is not one."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the JWKS file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a JWKS: it is not text") from exc
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}"
        raise ValueError(f"{path} is not a JWKS: not JSON ({where})") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise ValueError(f'{path} is not a JWKS: a JSON object with a "keys" array of JWKs')
    return document


async def _verify(args: argparse.Namespace, token: str) -> dict[str, object]:
    if args.jwks.startswith(("http://", "https://")):
        source: RemoteJwks | StaticJwks = RemoteJwks(args.jwks)
    else:
        source = StaticJwks(await asyncio.to_thread(_jwks_file, Path(args.jwks)))
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
        "event": verified.event_name,
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
