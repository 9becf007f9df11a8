"""A minimal WebSub subscriber: subscribes to a topic and prints every delivery it receives.

    python examples/subscriber.py --topic http://127.0.0.1:8080/topics/news [--secret S] [--token T]

It answers the hub's verification request only for the topic it asked for, checks
`X-Hub-Signature` when it subscribed with a secret, and unsubscribes on Ctrl-C. Content topics
are open; a hub run with `--subscribe-auth required` takes a subscriber token (--token, or
SETHUB_TOKEN) on every topic.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import signal
import sys

import aiohttp
from aiohttp import web


def signature_ok(header: str | None, secret: bytes, body: bytes) -> bool:
    method, _, digest = (header or "").partition("=")
    if method not in ("sha1", "sha256", "sha384", "sha512"):
        return False
    expected = hmac.new(secret, body, getattr(hashlib, method)).hexdigest()
    return hmac.compare_digest(expected, digest)


async def main(args: argparse.Namespace) -> None:
    callback = f"http://127.0.0.1:{args.port}/callback"
    secret = args.secret.encode() if args.secret else None
    wanted: set[str] = set()  # the hub.mode values we are waiting to confirm

    async def verify(request: web.Request) -> web.Response:
        mode, topic = request.query.get("hub.mode"), request.query.get("hub.topic")
        if topic != args.topic or mode not in wanted:
            return web.Response(status=404)
        wanted.discard(mode)
        lease = request.query.get("hub.lease_seconds", "-")
        print(f"verified {mode} (lease {lease} s)", flush=True)
        return web.Response(text=request.query["hub.challenge"])

    async def deliver(request: web.Request) -> web.Response:
        body = await request.read()
        if secret and not signature_ok(request.headers.get("X-Hub-Signature"), secret, body):
            print("rejected a delivery with a bad signature", flush=True)
            return web.Response(status=403)
        print(f"delivery ({request.content_type}): {body.decode(errors='replace')}", flush=True)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_get("/callback", verify)
    app.router.add_post("/callback", deliver)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()

    async def request(mode: str) -> None:
        wanted.add(mode)
        form = {"hub.mode": mode, "hub.topic": args.topic, "hub.callback": callback}
        if secret and mode == "subscribe":
            form["hub.secret"] = secret.decode()
        bearer = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        async with aiohttp.ClientSession() as session, session.post(
            args.hub, data=form, headers=bearer
        ) as reply:
            print(f"{mode} request: HTTP {reply.status}", flush=True)
            if reply.status != 202:
                print(await reply.text(), file=sys.stderr)

    await request("subscribe")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await request("unsubscribe")
    await asyncio.sleep(0.5)  # give the hub time to verify the unsubscription
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", default="http://127.0.0.1:8080/hub")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=None)
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    asyncio.run(main(parser.parse_args()))
