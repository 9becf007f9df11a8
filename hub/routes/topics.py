"""Hub-owned topics: discovery (WebSub §4) at `/topics/{name}`, and publishing their content."""

from __future__ import annotations

from aiohttp import web

from ..auth import authenticate
from ..errors import BadRequest, NotFound
from ..policy import TOPIC_NAME
from ..state import PUBLISHING, SETTINGS, STORE
from ..websub import link_header

__all__ = ["routes"]

routes = web.RouteTableDef()


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not TOPIC_NAME.match(name):
        raise NotFound("no such topic")
    return name


@routes.get("/topics")
async def list_topics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    names = await request.app[STORE].topics.names()
    return web.json_response(
        {
            "hub": settings.hub_url,
            "topics": [{"name": n, "url": settings.topic_url(n)} for n in names],
        }
    )


@routes.route("GET", "/topics/{name}")
async def get_topic(request: web.Request) -> web.Response:
    """The topic's current content with `Link` rel=hub and rel=self (HEAD is served too)."""
    name = _name(request)
    topic = await request.app[STORE].topics.get(name)
    if topic is None:
        raise NotFound("no such topic")
    settings = request.app[SETTINGS]
    response = web.Response(body=topic.content)
    response.headers["Content-Type"] = topic.content_type
    response.headers["Link"] = link_header(settings.hub_url, settings.topic_url(name))
    return response


@routes.post("/topics/{name}")
async def post_topic(request: web.Request) -> web.Response:
    """A publisher (bearer token) posts the topic's new content; it is stored and distributed."""
    name = _name(request)
    token = await authenticate(
        request.app[STORE], request.headers.get("Authorization"), action="publish", topic=name
    )
    request.app[PUBLISHING].admit(f"token:{token.id}")
    body = await request.read()
    if not body:
        raise BadRequest("the request body is the topic's new content and must not be empty")
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    event = await request.app[PUBLISHING].post_content(name, content_type, body)
    return web.json_response(
        {
            "topic": request.app[SETTINGS].topic_url(name),
            "event": event.id,
            "subscriptions": event.deliveries,
        },
        status=202,
    )
