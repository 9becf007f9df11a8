"""Loopback subscriber callbacks for the benchmarks, run in a process of their own.

    python bench/_subscribers.py --healthy 10 --dead 1 --port-file ports.json

Healthy callbacks answer 202 at once and count what they receive (GET /stats); dead ones accept
the connection and never answer. Ports are written as JSON once every server listens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import time
from pathlib import Path

from aiohttp import web


def _sent_at(body: bytes) -> float | None:
    """The benchmarks publish with txn = the send time; read it back from the SET's claims."""
    try:
        payload = body.split(b".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        return float(claims["txn"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def make_app(dead: bool) -> web.Application:
    stats = {"count": 0, "first": 0.0, "last": 0.0, "latencies": []}

    async def verify(request: web.Request) -> web.Response:
        return web.Response(text=request.query.get("hub.challenge", ""))

    async def deliver(request: web.Request) -> web.Response:
        if dead:
            await asyncio.sleep(3600)
        body = await request.read()
        now = time.time()
        stats["count"] += 1
        stats["first"] = stats["first"] or now
        stats["last"] = now
        sent = _sent_at(body)
        if sent is not None:
            stats["latencies"].append(now - sent)
        return web.Response(status=202)

    async def report(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application()
    app.router.add_get("/cb", verify)
    app.router.add_post("/cb", deliver)
    app.router.add_get("/stats", report)
    return app


async def main(args: argparse.Namespace) -> None:
    runners, ports = [], {"healthy": [], "dead": []}
    for kind, count in (("healthy", args.healthy), ("dead", args.dead)):
        for _ in range(count):
            runner = web.AppRunner(make_app(kind == "dead"), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports[kind].append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            runners.append(runner)
    Path(args.port_file).write_text(json.dumps(ports))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--healthy", type=int, default=10)
    parser.add_argument("--dead", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    asyncio.run(main(parser.parse_args()))
