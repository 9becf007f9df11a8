"""A complete SET receiver: subscribe to an identity topic, verify each SET, print the event.

    python examples/receiver.py --topic http://127.0.0.1:8080/topics/login --token "$SUBTOKEN"

Identity topics take a subscriber token (`sethub tokens create --scope subscribe:login`), given
with --token or SETHUB_TOKEN. It goes only to the hub, with the subscribe and unsubscribe requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

import aiohttp
from aiohttp import web

from set_tokens import RemoteJwks, VerifiedSet, Verifier, WebSubSubscriber


async def main(args: argparse.Namespace) -> None:
    origin = args.origin or f"http://127.0.0.1:{args.port}"
    bearer = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    async with aiohttp.ClientSession() as session, aiohttp.ClientSession(
        headers=bearer
    ) as hub_session:
        verifier = Verifier(
            issuer=args.issuer,
            audience=origin,  # the hub's default audience: our callback's origin
            algorithms=["RS256", "ES256", "PS256", "EdDSA"],
            jwks=RemoteJwks(f"{args.issuer}/.well-known/jwks.json", session=session),
        )

        async def on_event(event: VerifiedSet) -> None:
            name = event.event_type.name if event.event_type else event.event_uri
            subject = json.dumps(event.claims.sub_id.to_json())
            print(f"verified {name} for {subject}: {json.dumps(event.claims.event_payload)}",
                  flush=True)

        subscriber = WebSubSubscriber(callback_url=f"{origin}/callback", session=hub_session,
                                      verifier=verifier, on_event=on_event)
        app = web.Application()
        subscriber.attach(app, "/callback")
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, args.listen, args.port).start()
        await subscriber.subscribe(args.topic)
        print(f"subscribed to {args.topic}", flush=True)

        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        await subscriber.unsubscribe(args.topic)
        await subscriber.close()
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--issuer", default="http://127.0.0.1:8080",
                        help="the hub's issuer (by default its public URL)")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--listen", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--origin", default=None,
                        help="the URL the hub reaches this receiver at, also the SETs' audience"
                        " (default http://127.0.0.1:PORT)")
    parser.add_argument("--token", default=os.environ.get("SETHUB_TOKEN"),
                        help="subscriber token (default: env SETHUB_TOKEN)")
    asyncio.run(main(parser.parse_args()))
