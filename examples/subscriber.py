"""A minimal WebSub subscriber: subscribes to a topic and prints every delivery it receives.

    python examples/subscriber.py --topic http://127.0.0.1:8080/topics/news [--secret S] [--token T]

`sethub listen` does the same without the repository. The hub is the one the topic names in its
Link header (or --hub). The subscription has a secret (random unless --secret), so every
delivery's `X-Hub-Signature` is checked; the hub's verification request is answered only for what
was asked; the lease is renewed; Ctrl-C unsubscribes. Content topics are open; a hub run with
`--subscribe-auth required` takes a subscriber token (--token, or SETHUB_TOKEN) on every topic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import aiohttp
from aiohttp import web

from set_tokens import SubscriptionFailed, WebSubSubscriber


async def on_content(topic: str, content_type: str, body: bytes) -> None:
    print(f"delivery ({content_type}): {body.decode(errors='replace')}", flush=True)


async def main(args: argparse.Namespace) -> None:
    secret = args.secret.encode() if args.secret else None  # None: a random one
    bearer = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        subscriber = WebSubSubscriber(callback_url=f"http://127.0.0.1:{args.port}/callback",
                                      session=session, on_content=on_content)
        app = web.Application()
        subscriber.attach(app, "/callback")
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", args.port).start()
            subscription = await subscriber.subscribe(args.topic, secret=secret, hub=args.hub,
                                                      headers=bearer)
            print(f"verified subscribe (lease {subscription.granted_lease} s)", flush=True)
            await stop.wait()
            await subscriber.unsubscribe(subscription.topic)
            print("verified unsubscribe", flush=True)
        finally:
            await subscriber.close()
            await runner.cleanup()


def run(args: argparse.Namespace) -> str | None:
    """None once unsubscribed; else one line that says what went wrong."""
    try:
        asyncio.run(main(args))
    except SubscriptionFailed as exc:  # the topic or the hub said no (status 404: no such topic)
        loopback = exc.status == 403 and "callback" in str(exc)
        return f"{exc}{'; start the hub with --allow-private-callbacks' if loopback else ''}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"cannot reach {args.topic} ({exc or 'timed out'}): is the hub running?"
    except OSError as exc:
        return f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; choose another --port"
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--hub", default=None,
                        help="the hub URL (default: the one the topic advertises)")
    parser.add_argument("--port", type=int, default=9000, help="the callback's port (loopback)")
    parser.add_argument("--secret", default=None, help="hub.secret (default: a random one)")
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    problem = run(parser.parse_args())
    sys.exit(f"subscriber.py: {problem}" if problem else 0)
