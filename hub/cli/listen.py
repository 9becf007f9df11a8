"""`sethub listen --topic URL`: watch a topic's deliveries arrive, verified, one line each.

It is a receiver for trying a hub out, without the repository's examples: it listens on a
loopback port (any free one unless `--port`), subscribes with a random secret (every delivery's
`X-Hub-Signature` is checked), and prints what arrives until Ctrl-C or SIGTERM, then unsubscribes
and exits 0.

An identity topic describes itself as JSON (its SETs' issuer and JWKS URL), so each SET is
verified with the hub's keys and printed as `verified NAME for SUBJECT: PAYLOAD`, or as
`rejected a SET: ERR: WHY`. A content topic's deliveries are printed as they come,
`delivery (TYPE): BODY`. The usual mistakes (the hub is down, the port is busy, no such topic, the
hub refuses a loopback callback, no or the wrong subscriber token) end it with one line that says
what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from set_tokens import (
    ALGORITHMS,
    SET_MEDIA_TYPE,
    RemoteJwks,
    SetError,
    SubscriptionFailed,
    VerifiedSet,
    Verifier,
    WebSubSubscriber,
)
from set_tokens.errors import Unavailable
from set_tokens.websub import DiscoveryError, TopicSubscription

from .examples import with_examples
from .listener import bind, is_wildcard
from .publish import _token_problem

__all__ = ["register"]

EXAMPLES = (
    "# an identity topic, its SETs verified with the hub's keys (the hub runs with"
    "\n# --allow-private-callbacks, so that it may call this loopback callback)",
    "SUBTOKEN=$(sethub tokens create --scope subscribe:login | tail -n 1)",
    'sethub listen --topic http://127.0.0.1:8080/topics/login --token "$SUBTOKEN"',
    "# a content topic (open: no token), on a port of your choice",
    "sethub listen --topic http://127.0.0.1:8080/topics/news --port 9000",
)

CALLBACK_PATH = "/callback"
DEFAULT_HOST = "127.0.0.1"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Characters of a content delivery kept as they are; other control characters are shown escaped,
# so that a publisher's body cannot drive the terminal that prints it.
KEPT_CONTROLS = frozenset("\n\t")


class Stop(Exception):
    """Why the listener cannot go on, in one line for the user."""


@dataclass(frozen=True)
class Options:
    topic: str
    hub: str | None
    token: str | None
    host: str
    port: int
    callback: str | None
    issuer: str | None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "listen",
        help="subscribe to a topic and print each delivery (SETs verified) until Ctrl-C",
        description="Subscribe to a topic and print what it delivers; Ctrl-C unsubscribes.",
        **with_examples(*EXAMPLES),
    )
    parser.add_argument("--topic", required=True, metavar="URL", help="the topic URL")
    parser.add_argument(
        "--hub", default=None, metavar="URL",
        help="the hub's WebSub URL, e.g. http://127.0.0.1:8080/hub (default: the one the topic"
        " advertises)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("SETHUB_TOKEN"),
        help="subscriber token, needed for identity topics (env SETHUB_TOKEN)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: any free port)"
    )
    parser.add_argument(
        "--callback", default=None, metavar="URL",
        help=f"the callback URL the hub calls (default http://HOST:PORT{CALLBACK_PATH})",
    )
    parser.add_argument(
        "--issuer", default=None, help="the SETs' issuer (default: as the topic describes it)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ValueError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_listen(options))
    except Stop as stop:
        print(f"sethub: {stop}", file=sys.stderr)
        return EXIT_FAILED


def _options(args: argparse.Namespace) -> Options:
    """The arguments, checked; ValueError says which one is wrong and how."""
    for flag, url in (("--topic", args.topic), ("--hub", args.hub), ("--callback", args.callback)):
        if url is not None and not _is_http_url(url):
            raise ValueError(f"{flag} must be an http(s) URL, not {url!r}")
    token = args.token.strip() if args.token else None
    if token:
        problem = _token_problem(token)
        if problem is not None:
            raise ValueError(problem)
    if args.callback is None and is_wildcard(args.host):
        raise ValueError(
            f"--host {args.host or repr('')} listens on every address: give --callback with a"
            " URL the hub can reach"
        )
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, not {args.port}")
    return Options(args.topic, args.hub, token or None, args.host, args.port, args.callback,
                   args.issuer)


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _topic_name(topic: str) -> str:
    return urlsplit(topic).path.rstrip("/").rpartition("/")[2] or "NAME"


async def _listen(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        sockets = bind(options.host, options.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        busy = "; choose another --port" if exc.errno == errno.EADDRINUSE else ""
        raise Stop(f"cannot listen on {options.host}:{options.port}: {reason}{busy}") from exc
    try:
        return await _serve(options, sockets, stop)
    finally:
        for sock in sockets:
            sock.close()


async def _serve(options: Options, sockets: list[socket.socket], stop: asyncio.Event) -> int:
    """Subscribe with a callback on `sockets`, print deliveries until `stop`, unsubscribe."""
    port = sockets[0].getsockname()[1]
    host = f"[{options.host}]" if ":" in options.host else options.host
    callback = options.callback or f"http://{host}:{port}{CALLBACK_PATH}"
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
        about = await _describe(session, options.topic)
        verifier = None
        if about is not None:  # an identity topic: the hub's default aud is our origin
            verifier = Verifier(
                issuer=options.issuer or about["issuer"], audience=_origin(callback),
                algorithms=list(ALGORITHMS), jwks=RemoteJwks(about["jwks_uri"], session=session),
            )
        subscriber = WebSubSubscriber(
            callback_url=callback, session=session, verifier=verifier,
            on_event=_print_event, on_content=_print_content, on_rejection=_print_rejection,
        )
        app = web.Application()
        subscriber.attach(app, CALLBACK_PATH)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            for sock in sockets:
                await web.SockSite(runner, sock).start()
            subscription = await _subscribe(subscriber, options)
            print(f"subscribed to {options.topic}", flush=True)
            await stop.wait()
            return await _unsubscribe(subscriber, subscription)
        finally:
            await subscriber.close()
            await runner.cleanup()


async def _describe(session: aiohttp.ClientSession, topic: str) -> dict[str, Any] | None:
    """An identity topic's JSON description (it names the SETs' issuer and JWKS URL), or None
    for a content topic, which serves its content instead."""
    try:
        async with session.get(topic, headers={"Accept": "application/json"}) as response:
            if response.status == 404:
                raise Stop(
                    f"no such topic: {topic} (identity topics are listed at /topics; a content"
                    " topic exists once a publisher has posted to it)"
                )
            if response.status != 200:
                raise Stop(f"{topic} answered HTTP {response.status}")
            if response.content_type != "application/json":
                return None
            about = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Stop(f"cannot reach {topic} ({exc or 'timed out'}): is the hub running?") from exc
    except ValueError:
        return None  # content that says it is JSON but is not: still a content topic
    identity = (
        isinstance(about, dict)
        and about.get("content_type") == SET_MEDIA_TYPE
        and isinstance(about.get("issuer"), str)
        and isinstance(about.get("jwks_uri"), str)
    )
    return about if identity else None


async def _subscribe(subscriber: WebSubSubscriber, options: Options) -> TopicSubscription:
    bearer = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    try:
        return await subscriber.subscribe(options.topic, hub=options.hub, headers=bearer)
    except DiscoveryError as exc:
        if exc.status is None:
            raise Stop(f"{exc}: is the hub running?") from exc
        raise Stop(str(exc)) from exc
    except SubscriptionFailed as exc:
        raise Stop(f"{exc}{_hint(exc, options)}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Stop(f"cannot subscribe to {options.topic}: {exc or 'timed out'}") from exc


def _hint(refused: SubscriptionFailed, options: Options) -> str:
    """What to do about a hub's refusal, for the refusals a newcomer meets."""
    text, name = str(refused), _topic_name(options.topic)
    make_one = f"sethub tokens create --scope subscribe:{name} | tail -n 1"
    if refused.status == 403 and "callback" in text:
        return "; the callback is on loopback: start the hub with --allow-private-callbacks"
    if refused.status == 401 and options.token is None:
        return f"; this topic takes a subscriber token: make one with `{make_one}` and pass it" \
            " with --token or SETHUB_TOKEN"
    if refused.status == 401:
        return "; the hub does not know this token: was it made with the hub's --db?"
    if refused.status == 403 and "scope" in text:
        return f"; make a token that may subscribe here: `{make_one}`"
    return ""


async def _unsubscribe(subscriber: WebSubSubscriber, subscription: TopicSubscription) -> int:
    try:
        await subscriber.unsubscribe(subscription.topic)
    except (SubscriptionFailed, aiohttp.ClientError, TimeoutError) as exc:
        print(f"sethub: could not unsubscribe: {exc or 'timed out'}", file=sys.stderr)
        return EXIT_FAILED
    print(f"unsubscribed from {subscription.topic}", flush=True)
    return EXIT_OK


async def _print_event(event: VerifiedSet) -> None:
    subject = json.dumps(event.claims.sub_id.to_json())
    payload = json.dumps(event.claims.event_payload)
    print(f"verified {event.event_name} for {subject}: {payload}", flush=True)


def _print_rejection(error: SetError | Unavailable) -> None:
    if isinstance(error, SetError):
        print(f"rejected a SET: {error.err}: {error.description}", flush=True)
    else:
        print(f"cannot verify a SET now, the hub will retry: {error}", flush=True)


async def _print_content(topic: str, content_type: str, body: bytes) -> None:
    text = "".join(
        c if c.isprintable() or c in KEPT_CONTROLS else repr(c)[1:-1]
        for c in body.decode(errors="replace")
    )
    print(f"delivery ({content_type}): {text}", flush=True)
