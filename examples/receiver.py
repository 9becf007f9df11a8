"""A complete SET receiver: subscribe to an identity topic, verify each SET, print the event.

    python examples/receiver.py --topic http://127.0.0.1:8080/topics/login --token "$SUBTOKEN"

Identity topics take a subscriber token (`sethub tokens create --scope subscribe:login`), given
with --token or SETHUB_TOKEN; it goes only to the hub, with the subscribe and unsubscribe requests.

The issuer and the JWKS URL come from the topic's own JSON description (GET the topic URL), so the
hub can run on any port. Accepted SETs are remembered in an SQLite file (--replay-db), so a
restarted receiver still refuses one it has already acted on. Every verified event and every
rejected SET is printed. Problems in the way (the hub is down, the port is busy, no such topic,
the hub refuses the callback) end it with one line that says what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from set_tokens import (
    ALGORITHMS,
    ConfigurationError,
    DiscoveryError,
    RemoteJwks,
    SetError,
    SqliteReplayCache,
    SubscriptionFailed,
    Unavailable,
    VerifiedSet,
    Verifier,
    WebSubSubscriber,
)

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Stop(Exception):
    """Why the receiver cannot go on, in one line for the user."""


async def describe(session: aiohttp.ClientSession, topic: str) -> dict[str, Any]:
    """The identity topic's JSON description: it names the SETs' issuer and its JWKS URL."""
    try:
        async with session.get(topic, headers={"Accept": "application/json"}) as response:
            if response.status == 404:
                raise Stop(f"no such topic: {topic} (identity topics are /topics/NAME, "
                           "listed at /topics)")
            if response.status != 200:
                raise Stop(f"{topic} answered HTTP {response.status}")
            about = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Stop(f"cannot reach {topic} ({exc or 'timed out'}): is the hub running?") from exc
    except ValueError as exc:
        raise Stop(f"{topic} is not an identity topic: it does not describe itself") from exc
    if not (isinstance(about, dict) and isinstance(about.get("issuer"), str)
            and isinstance(about.get("jwks_uri"), str)):
        raise Stop(f"{topic} is not an identity topic: no issuer and jwks_uri in its description")
    return about


async def listen(runner: web.AppRunner, host: str, port: int) -> None:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        raise Stop(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                   "choose another --port") from exc


async def subscribe(subscriber: WebSubSubscriber, topic: str, token: str | None) -> str:
    """Subscribe; the topic URL the hub knows it by (its rel=self)."""
    bearer = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        subscription = await subscriber.subscribe(topic, headers=bearer)
    except DiscoveryError as exc:
        if exc.status == 404:
            raise Stop(f"no such topic: {topic}") from exc
        raise Stop(f"cannot subscribe: {exc}") from exc
    except SubscriptionFailed as exc:
        hint = ""
        if exc.status == 403 and "callback" in str(exc):
            hint = ("; this receiver's callback is on loopback: start the hub with "
                    "--allow-private-callbacks")
        raise Stop(f"{exc}{hint}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Stop(f"cannot subscribe to {topic}: {exc or 'timed out'}") from exc
    return subscription.topic


def on_rejection(error: SetError | Unavailable) -> None:
    if isinstance(error, SetError):
        print(f"rejected a SET: {error.err}: {error.description}", flush=True)
    else:
        print(f"cannot verify a SET now, the hub will retry: {error}", flush=True)


async def on_event(event: VerifiedSet) -> None:
    subject = json.dumps(event.claims.sub_id.to_json())
    payload = json.dumps(event.claims.event_payload)
    print(f"verified {event.event_name} for {subject}: {payload}", flush=True)


async def main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    origin = args.origin or f"http://127.0.0.1:{args.port}"
    try:
        seen = SqliteReplayCache(args.replay_db)
    except ConfigurationError as exc:
        raise Stop(str(exc)) from exc
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
        about = await describe(session, args.topic)
        verifier = Verifier(
            issuer=args.issuer or about["issuer"],
            audience=origin,  # the hub's default audience: our callback's origin
            algorithms=list(ALGORITHMS),
            jwks=RemoteJwks(args.jwks or about["jwks_uri"], session=session),
            replay_cache=seen,
        )
        subscriber = WebSubSubscriber(callback_url=f"{origin}/callback", session=session,
                                      verifier=verifier, on_event=on_event,
                                      on_rejection=on_rejection)
        app = web.Application()
        subscriber.attach(app, "/callback")
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await listen(runner, args.listen, args.port)
            topic = await subscribe(subscriber, args.topic, args.token)
            print(f"subscribed to {args.topic}", flush=True)
            await stop.wait()
            try:
                await subscriber.unsubscribe(topic)
            except (SubscriptionFailed, aiohttp.ClientError, TimeoutError) as exc:
                print(f"could not unsubscribe: {exc}", file=sys.stderr)
        finally:
            await subscriber.close()
            await runner.cleanup()
            seen.close()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(main(args))
    except Stop as stop:
        print(f"receiver.py: {stop}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True, help="an identity topic URL of the hub")
    parser.add_argument("--port", type=int, default=9001, help="the callback's port (loopback)")
    parser.add_argument("--listen", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--origin", default=None,
                        help="the URL the hub reaches this receiver at, also the SETs' audience"
                        " (default http://127.0.0.1:PORT)")
    parser.add_argument("--issuer", default=None,
                        help="the SETs' issuer (default: as the topic describes it)")
    parser.add_argument("--jwks", default=None,
                        help="the issuer's JWKS URL (default: as the topic describes it)")
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    parser.add_argument("--replay-db", type=Path, default=Path("receiver-jti.db"),
                        help="SQLite file of the SETs accepted so far (default ./receiver-jti.db)")
    sys.exit(run(parser.parse_args()))
