"""`sethub deliveries list|retry`: inspect and re-queue dead-lettered deliveries.

Works on the database file directly; a running hub picks re-queued deliveries up at its next poll.
A dead delivery whose subscription has ended is never re-queued (it would go nowhere, or, were ids
ever reused, to someone else); `retry` names every id it did not re-queue, and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from ..config import Settings
from ..store import DeliveryState, RequeueReport, StoreOpenError
from .examples import with_examples
from .existing_store import open_existing_store
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register"]

ENDED = "subscription has ended"
DISABLED = "subscription is disabled (subscribing again enables it)"


EXAMPLES = {
    "list": "# the dead letters: deliveries whose retry budget is spent\n"
    "sethub deliveries list --state dead --limit 20",
    "retry": "sethub deliveries retry 12 13\nsethub deliveries retry --all",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deliveries", help="inspect and re-queue deliveries", **with_examples(*EXAMPLES.values())
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list deliveries in a state (JSON lines)", **with_examples(EXAMPLES["list"])
    )
    add_setting_flags(listing, ["db"])
    add_config_flag(listing)
    listing.add_argument(
        "--state",
        choices=[str(s) for s in DeliveryState],
        default="dead",
        help="which deliveries to list (default dead: the retry budget is spent)",
    )
    listing.add_argument(
        "--limit",
        type=_positive,
        default=100,
        help="most deliveries listed, newest first (default 100)",
    )
    listing.set_defaults(func=run_list)
    retry = actions.add_parser(
        "retry", help="re-queue dead deliveries with a fresh budget",
        **with_examples(EXAMPLES["retry"]),
    )
    add_setting_flags(retry, ["db"])
    add_config_flag(retry)
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every dead delivery")
    retry.set_defaults(func=run_retry)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


async def _list(settings: Settings, state: str, limit: int) -> list[dict[str, object]]:
    store = await open_existing_store(settings)
    try:
        return await store.deliveries.listing(state=DeliveryState(state), limit=limit)
    finally:
        await store.close()


async def _retry(settings: Settings, ids: list[int] | None) -> RequeueReport:
    store = await open_existing_store(settings)
    try:
        return await store.deliveries.requeue(ids, now=time.time())
    finally:
        await store.close()


def run_list(args: argparse.Namespace) -> int:
    try:
        rows = asyncio.run(_list(command_settings(args), args.state, args.limit))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        print(json.dumps(row))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    """Exit 1 when a named id was not re-queued (each is named on stderr, with the reason)."""
    if not args.all and not args.ids:
        print("sethub: name delivery ids or --all", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_retry(command_settings(args), None if args.all else args.ids))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    print(f"re-queued {len(report.requeued)} deliveries")
    if args.all:
        for count, why in ((len(report.ended), ENDED), (len(report.disabled), DISABLED)):
            if count:
                print(f"sethub: {count} dead deliveries not re-queued: {why}", file=sys.stderr)
        return 0
    refusals = [
        *((i, "no such delivery") for i in report.unknown),
        *((i, f"not dead ({state})") for i, state in report.not_dead.items()),
        *((i, f"its {ENDED}") for i in report.ended),
        *((i, f"its {DISABLED}") for i in report.disabled),
    ]
    for delivery_id, reason in sorted(refusals):
        print(f"sethub: delivery {delivery_id}: {reason}", file=sys.stderr)
    return 1 if refusals else 0
