"""A SET receiver on set_tokens: subscribe to an identity topic, verify each SET, print the event.

    python examples/receiver.py --topic http://127.0.0.1:8080/topics/login --token "$SUBTOKEN"

`sethub listen` does the same without the repository; this is the code to start a receiver of
your own from. Identity topics take a subscriber token (`sethub tokens create --scope
subscribe:login`), given with --token or SETHUB_TOKEN; it goes only to the hub.

The issuer and JWKS URL come from the topic's JSON description (GET the topic URL), so the hub can
run on any port. Accepted SETs are remembered in an SQLite file (--replay-db), so a restarted
receiver still refuses one it has already acted on. Ctrl-C unsubscribes.
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
    RemoteJwks,
    SetError,
    SqliteReplayCache,
    SubscriptionFailed,
    VerifiedSet,
    Verifier,
    WebSubSubscriber,
)


async def on_event(event: VerifiedSet) -> None:
    subject = json.dumps(event.claims.sub_id.to_json())
    payload = json.dumps(event.claims.event_payload)
    print(f"verified {event.event_name} for {subject}: {payload}", flush=True)


def on_rejection(error: Exception) -> None:
    if isinstance(error, SetError):
        print(f"rejected a SET: {error.err}: {error.description}", flush=True)
    else:  # KeysUnavailable: answered 503, so the hub sends the SET again later
        print(f"cannot verify a SET now, the hub will retry: {error}", flush=True)


async def describe(session: aiohttp.ClientSession, topic: str) -> dict[str, Any]:
    """The identity topic's JSON description: it names the SETs' issuer and its JWKS URL."""
    async with session.get(topic, headers={"Accept": "application/json"}) as response:
        if response.status == 404:
            raise LookupError(f"no such topic: {topic}")
        response.raise_for_status()
        try:
            about = await response.json(content_type=None)
        except ValueError:  # not JSON: a content topic
            about = None
    if not isinstance(about, dict) or "issuer" not in about or "jwks_uri" not in about:
        raise LookupError(f"{topic} is not an identity topic (sethub listen takes any topic)")
    return about


async def main(args: argparse.Namespace) -> None:
    origin = args.origin or f"http://127.0.0.1:{args.port}"  # the hub's default aud
    bearer = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        about = await describe(session, args.topic)
        verifier = Verifier(issuer=args.issuer or about["issuer"], audience=origin,
                            algorithms=list(ALGORITHMS),
                            jwks=RemoteJwks(about["jwks_uri"], session=session),
                            replay_cache=SqliteReplayCache(args.replay_db))
        subscriber = WebSubSubscriber(callback_url=f"{origin}/callback", session=session,
                                      verifier=verifier, on_event=on_event,
                                      on_rejection=on_rejection)
        app = web.Application()
        subscriber.attach(app, "/callback")
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, args.listen, args.port).start()
            subscription = await subscriber.subscribe(args.topic, headers=bearer)
            print(f"subscribed to {args.topic}", flush=True)
            await stop.wait()
            await subscriber.unsubscribe(subscription.topic)
        finally:
            await subscriber.close()
            await runner.cleanup()


def run(args: argparse.Namespace) -> str | None:
    """None once unsubscribed; else one line that says what went wrong."""
    try:
        asyncio.run(main(args))
    except SubscriptionFailed as exc:
        loopback = exc.status == 403 and "callback" in str(exc)
        return f"{exc}{'; start the hub with --allow-private-callbacks' if loopback else ''}"
    except LookupError as exc:  # no such topic, or not an identity topic
        return str(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"cannot reach {args.topic} ({exc or 'timed out'}): is the hub running?"
    except OSError as exc:
        return f"cannot listen on {args.listen}:{args.port}: {exc.strerror}; choose another --port"
    return None


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
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    parser.add_argument("--replay-db", type=Path, default=Path("receiver-jti.db"),
                        help="SQLite file of the SETs accepted so far (default ./receiver-jti.db)")
    problem = run(parser.parse_args())
    sys.exit(f"receiver.py: {problem}" if problem else 0)
