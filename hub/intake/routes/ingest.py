"""`/ingest/{name}`: identity providers' native webhooks (see hub.intake.bridges).

POST answers 202 once the events it made are durable, with the unmapped vendor names; a bad
signature is 401 and stores nothing; a payload the mapping cannot read is 400 naming the member.
GET answers a WebSub verification for sources whose vendor delivers through a WebSub hub.
"""

from __future__ import annotations

from aiohttp import web

from ...appkeys import INGESTION
from ..bridges.common import Inbound
from .bodies import read_body

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/ingest/{name}")
async def ingest(request: web.Request) -> web.Response:
    inbound = Inbound(
        body=await read_body(request), headers=request.headers, query=dict(request.query)
    )
    answer = await request.app[INGESTION].receive(request.match_info["name"], inbound)
    return web.json_response(answer.to_json(), status=202)


@routes.get("/ingest/{name}")
async def verify(request: web.Request) -> web.Response:
    challenge = await request.app[INGESTION].verify_intent(
        request.match_info["name"], dict(request.query)
    )
    return web.Response(text=challenge, content_type="text/plain")
