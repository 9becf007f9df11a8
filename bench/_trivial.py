"""The ingest baseline: an aiohttp app whose handler parses the JSON body and answers 202.

    python bench/_trivial.py --port PORT

Run in a process of its own, like the hub, so both get the same share of the machine.
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.json()
    return web.json_response({"events": []}, status=202)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    app = web.Application()
    app.router.add_post("/events", accept)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=parser.parse_args().port, access_log=None,
                print=None)
