"""The publisher API: `POST /events` takes identity events as JSON and answers 202 once they and
their deliveries are durable. JSON errors name the offending field."""

from __future__ import annotations

from aiohttp import web

from ...appkeys import IDENTITY, PUBLISHING, STORE
from ...errors import BadRequest, UnsupportedMediaType
from ..auth import authenticate, require_scope
from .bodies import read_body

__all__ = ["routes"]

routes = web.RouteTableDef()
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


@routes.post("/events")
async def publish_events(request: web.Request) -> web.Response:
    app = request.app
    token = await authenticate(app[STORE], request.headers.get("Authorization"), action=None)
    if request.content_type not in ("application/json", ""):
        raise UnsupportedMediaType("POST /events takes application/json")
    identity = app[IDENTITY]
    events = identity.parse(await read_body(request))
    for topic in sorted({event.event_type.topic for event in events}):
        require_scope(token, "publish", topic)
    app[PUBLISHING].admit(f"token:{token.id}")
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None:
        if not key.isascii():  # aiohttp hands over header bytes that are not UTF-8 as surrogates
            raise BadRequest(f"the {IDEMPOTENCY_HEADER} header must be ASCII")
        key = key.strip()[:MAX_IDEMPOTENCY_KEY] or None
    published, replayed = await identity.publish(events, token_id=token.id, request_key=key)
    body = {
        "events": [
            {
                "id": str(item.id),
                "topic": item.topic,
                "txn": item.txn,
                "subscriptions": item.deliveries,
            }
            for item in published
        ]
    }
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return web.json_response(body, status=202, headers=headers)
