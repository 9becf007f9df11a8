"""`python -m conformance --hub URL`: run the suite, print a table, exit 1 if any check failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp

from . import set_checks, websub_checks  # noqa: F401 (registers the checks)
from .harness import Harness
from .runner import CHECKS, Context, render_table, run_checks, write_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("--hub", required=True, help="the hub URL, e.g. http://127.0.0.1:8080/hub")
    parser.add_argument(
        "--publisher-token", default=None, help="bearer token sent with publish requests"
    )
    parser.add_argument(
        "--subscriber-token",
        default=None,
        help="bearer token sent with subscribe and unsubscribe requests (sethub: scope "
        "subscribe, allowed the SET checks' audiences; see conformance/README.md)",
    )
    parser.add_argument("--only", choices=("websub", "set"), default=None)
    parser.add_argument(
        "--check",
        action="append",
        default=None,
        metavar="ID",
        help="run only this check (repeatable)",
    )
    parser.add_argument("--report", type=Path, default=None, help="write a JSON report here")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for prompt hub behaviour"
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=30.0,
        help="seconds to wait for slow behaviour (leases, retry budgets)",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--events-url", default=None, help="identity publisher API (default: sethub's, BASE/events)"
    )
    parser.add_argument(
        "--set-topic",
        default=None,
        help="identity topic to subscribe to (default: BASE/topics/session)",
    )
    parser.add_argument("--issuer", default=None, help="expected SET iss (default: BASE)")
    parser.add_argument(
        "--jwks-url", default=None, help="the hub's JWKS (default: BASE/.well-known/jwks.json)"
    )
    parser.add_argument(
        "--listen-host",
        default="127.0.0.1",
        help="address of the suite's topic and callback server",
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    selected = [c for c in CHECKS if args.only in (None, c.group)]
    if args.check:
        selected = [c for c in selected if c.id in set(args.check)]
    harness = Harness(args.hub)
    await harness.start(args.listen_host)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            base = args.hub.removesuffix("/hub")
            context = Context(
                hub=args.hub,
                harness=harness,
                session=session,
                token=args.publisher_token,
                subscriber_token=args.subscriber_token,
                timeout=args.timeout,
                patience=args.patience,
                events_url=args.events_url or f"{base}/events",
                set_topic=args.set_topic or f"{base}/topics/session",
                issuer=args.issuer or base,
                jwks_url=args.jwks_url or f"{base}/.well-known/jwks.json",
            )
            results = await run_checks(selected, context, concurrency=args.concurrency)
    finally:
        await harness.close()
    print(render_table(results))
    if args.report:
        write_report(args.report, args.hub, results)
    return 1 if any(r.status == "fail" for r in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
