"""`sethub publish`: send one identity event to a hub's publisher API (POST /events)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .examples import with_examples

__all__ = ["register"]

TIMEOUT_SECONDS = 30
HUB_PATH = "/hub"
EVENTS_PATH = "/events"
# Epoch seconds, whole or not: sent as a JSON number, since the API reads a string as RFC 3339.
EPOCH_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish an identity event to a hub",
        **with_examples(
            "sethub publish --token \"$TOKEN\" --type login-failed \\\n"
            "    --subject '{\"format\":\"email\",\"email\":\"jane@example.com\"}'"
            " --data '{\"reason\":\"bad password\"}'",
            "# events written out as JSON (one object, or an array), to another hub",
            "sethub publish --token \"$TOKEN\" --file events.json --hub https://hub.example.org",
        ),
    )
    parser.add_argument(
        "--hub",
        default=os.environ.get("SETHUB_HUB", "http://127.0.0.1:8080"),
        help="the hub's base URL, or its WebSub URL ending in /hub (env SETHUB_HUB)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("SETHUB_TOKEN"), help="publisher token (env SETHUB_TOKEN)"
    )
    parser.add_argument("--type", help="event type: short name, URI or vendor name")
    parser.add_argument("--subject", help='subject identifier JSON, e.g. {"format":"email",...}')
    parser.add_argument("--data", default=None, help="event data: JSON, @FILE, or - for stdin")
    parser.add_argument("--occurred-at", default=None, help="RFC 3339 time or epoch seconds")
    parser.add_argument("--txn", default=None)
    parser.add_argument("--id", default=None, help="idempotency id")
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        help="a whole event (or array of events) as JSON instead of the flags",
    )
    parser.set_defaults(func=run)


def _json_argument(value: str, what: str) -> Any:
    if value == "-":
        value = sys.stdin.read()
    elif value.startswith("@"):
        value = Path(value[1:]).read_text()
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from exc


def _body(args: argparse.Namespace) -> Any:
    if args.file is not None:
        return _json_argument("@" + str(args.file), "--file")
    if not args.type or not args.subject:
        raise ValueError("give --type and --subject (or --file)")
    event: dict[str, Any] = {
        "type": args.type,
        "subject": _json_argument(args.subject, "--subject"),
    }
    if args.data is not None:
        event["data"] = _json_argument(args.data, "--data")
    if args.occurred_at is not None:
        event["occurred_at"] = _time_of_event(args.occurred_at)
    for name in ("txn", "id"):
        if getattr(args, name) is not None:
            event[name] = getattr(args, name)
    return event


def _time_of_event(value: str) -> int | float | str:
    if EPOCH_SECONDS.fullmatch(value):
        return int(value) if value.isdigit() else float(value)
    return value


def _events_url(hub: str) -> str:
    """The publisher API of a hub named by its base URL or by its WebSub URL (`.../hub`), the
    form examples/subscriber.py and the conformance suite take."""
    parts = urlsplit(hub.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--hub must be an http(s) URL such as http://127.0.0.1:8080, not {hub!r}")
    path = parts.path.rstrip("/").removesuffix(HUB_PATH)
    return f"{parts.scheme}://{parts.netloc}{path}{EVENTS_PATH}"


async def _post(url: str, token: str, body: Any) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.text()


def _token_problem(token: str) -> str | None:
    """Why `token` cannot go into an Authorization header, if it cannot. A token captured with
    the notice that `tokens create` prints on stderr (`$(... 2>&1)`) spans two lines."""
    if any(not character.isprintable() or character.isspace() for character in token.strip()):
        return (
            "the token contains a line break or other space or control character: pass only the"
            " token (`sethub tokens create` prints it alone as the last line of its stdout)"
        )
    return None


def run(args: argparse.Namespace) -> int:
    if not args.token:
        print("sethub: a publisher token is needed (--token or SETHUB_TOKEN)", file=sys.stderr)
        return 2
    problem = _token_problem(args.token)
    if problem is not None:
        print(f"sethub: {problem}", file=sys.stderr)
        return 2
    try:
        url = _events_url(args.hub)
        body = _body(args)
    except (ValueError, OSError) as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 2
    try:
        status, text = asyncio.run(_post(url, args.token.strip(), body))
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"sethub: cannot reach {args.hub}: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0 if status == 202 else 1
