"""A minimal WebSub subscriber: subscribes to a topic and prints every delivery it receives.

    python examples/subscriber.py --topic http://127.0.0.1:8080/topics/news [--secret S] [--token T]

The hub is the one the topic names in its Link header (or --hub). The subscription has a secret
(random unless --secret), so every delivery's `X-Hub-Signature` is checked; the hub's
verification request is answered only for what was asked; the lease is renewed; Ctrl-C
unsubscribes. Problems in the way (the hub is down, the port is busy, no such topic, the hub
refuses the callback) end it with one line that says what to do. Content topics are open; a hub
run with `--subscribe-auth required` takes a subscriber token (--token, or SETHUB_TOKEN) on every
topic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import aiohttp
from aiohttp import web

from set_tokens import DiscoveryError, SubscriptionFailed, TopicSubscription, WebSubSubscriber

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Stop(Exception):
    """Why the subscriber cannot go on, in one line for the user."""


async def on_content(topic: str, content_type: str, body: bytes) -> None:
    print(f"delivery ({content_type}): {body.decode(errors='replace')}", flush=True)


async def listen(runner: web.AppRunner, port: int) -> None:
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        raise Stop(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; "
                   "choose another --port") from exc


async def subscribe(subscriber: WebSubSubscriber, args: argparse.Namespace) -> TopicSubscription:
    secret = args.secret.encode() if args.secret else None
    bearer = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        return await subscriber.subscribe(args.topic, secret=secret, hub=args.hub, headers=bearer)
    except DiscoveryError as exc:
        if exc.status == 404:
            raise Stop(f"no such topic: {args.topic} (a content topic exists once a publisher "
                       "has posted to it)") from exc
        if exc.status is None:
            raise Stop(f"{exc}: is the hub running?") from exc
        raise Stop(str(exc)) from exc
    except SubscriptionFailed as exc:
        hint = ""
        if exc.status == 403 and "callback" in str(exc):
            hint = ("; this subscriber's callback is on loopback: start the hub with "
                    "--allow-private-callbacks")
        raise Stop(f"{exc}{hint}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Stop(f"cannot subscribe to {args.topic}: {exc or 'timed out'}") from exc


async def main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    callback = f"http://127.0.0.1:{args.port}/callback"
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
        subscriber = WebSubSubscriber(callback_url=callback, session=session,
                                      on_content=on_content)
        app = web.Application()
        subscriber.attach(app, "/callback")
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await listen(runner, args.port)
            subscription = await subscribe(subscriber, args)
            print(f"verified subscribe (lease {subscription.granted_lease} s)", flush=True)
            await stop.wait()
            try:
                await subscriber.unsubscribe(subscription.topic)
                print("verified unsubscribe", flush=True)
            except (SubscriptionFailed, aiohttp.ClientError, TimeoutError) as exc:
                print(f"could not unsubscribe: {exc}", file=sys.stderr)
        finally:
            await subscriber.close()
            await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(main(args))
    except Stop as stop:
        print(f"subscriber.py: {stop}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--hub", default=None,
                        help="the hub URL (default: the one the topic advertises)")
    parser.add_argument("--port", type=int, default=9000, help="the callback's port (loopback)")
    parser.add_argument("--secret", default=None, help="hub.secret (default: a random one)")
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    sys.exit(run(parser.parse_args()))
