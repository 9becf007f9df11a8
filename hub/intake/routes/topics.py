"""Hub-owned topics at `/topics/{name}` with WebSub discovery links (§4).

Identity topics (from the event catalog) describe themselves as JSON: their event types and URIs,
and the media type of their deliveries. Content topics serve the content their publisher posted,
and take new content by POST with a publisher token.
"""

from __future__ import annotations

from aiohttp import web

from ...appkeys import CATALOG, PUBLISHING, SETTINGS, STORE
from ...errors import BadRequest, Forbidden, NotFound
from ...websub import AUDIENCE_PARAMETER, EVENTS_PARAMETER, link_header
from ..auth import authenticate
from ..identity_events import SET_CONTENT_TYPE
from ..topic_policy import TOPIC_NAME
from .bodies import read_body

__all__ = ["routes"]

routes = web.RouteTableDef()
# A publisher chooses a content topic's body and media type: served so that no script in it runs
# on the hub's origin (a browser neither sniffs a type nor runs script in a sandboxed document).
CONTENT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


class InvalidTopicName(BadRequest):
    code = "invalid_topic_name"


def _name(request: web.Request) -> str | None:
    """The topic name of the request path, or None if no topic can have it."""
    name = request.match_info["name"]
    return name if TOPIC_NAME.fullmatch(name) else None


@routes.get("/topics")
async def list_topics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    identity = sorted(request.app[CATALOG].topics())
    content = [n for n in await request.app[STORE].topics.names() if n not in identity]
    return web.json_response(
        {
            "hub": settings.hub_url,
            "topics": [
                {"name": n, "url": settings.topic_url(n), "kind": "identity"} for n in identity
            ]
            + [{"name": n, "url": settings.topic_url(n), "kind": "content"} for n in content],
        }
    )


def _description(request: web.Request, name: str) -> dict[str, object]:
    settings = request.app[SETTINGS]
    entries = request.app[CATALOG].topics()[name]
    return {
        "topic": settings.topic_url(name),
        "hub": settings.hub_url,
        "content_type": SET_CONTENT_TYPE,
        "jwks_uri": f"{settings.base_url}/.well-known/jwks.json",
        "issuer": settings.set_issuer,
        "subscribe_parameters": {
            AUDIENCE_PARAMETER: "the SETs' aud (default: the callback's origin)",
            EVENTS_PARAMETER: "comma-separated event types to receive (default: all)",
        },
        "events": [
            {"name": e.name, "uri": e.uri, "standard": e.standard, "aliases": sorted(e.aliases)}
            for e in entries
        ],
    }


@routes.route("GET", "/topics/{name}")
async def get_topic(request: web.Request) -> web.Response:
    """The topic with `Link` rel=hub and rel=self (HEAD is served too)."""
    name = _name(request)
    if name is None:
        raise NotFound("no such topic")
    settings = request.app[SETTINGS]
    headers = {"Link": link_header(settings.hub_url, settings.topic_url(name)), **CONTENT_HEADERS}
    if name in request.app[CATALOG].topics():
        return web.json_response(_description(request, name), headers=headers)
    topic = await request.app[STORE].topics.get(name)
    if topic is None:
        raise NotFound("no such topic")
    return web.Response(body=topic.content, headers={"Content-Type": topic.content_type, **headers})


@routes.post("/topics/{name}")
async def post_topic(request: web.Request) -> web.Response:
    """A publisher (bearer token) posts the topic's new content; it is stored and distributed."""
    name = _name(request)
    if name is None:
        raise InvalidTopicName("invalid topic name (lowercase letters, digits, . _ -; at most 64)")
    token = await authenticate(
        request.app[STORE], request.headers.get("Authorization"), action="publish", topic=name
    )
    if name in request.app[CATALOG].topics():
        raise Forbidden(f"{name} is an identity topic: publish its events with POST /events")
    request.app[PUBLISHING].admit(f"token:{token.id}")
    body = await read_body(request)
    if not body:
        raise BadRequest("the request body is the topic's new content and must not be empty")
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    if not content_type.isascii():  # header bytes that are not UTF-8 arrive as surrogates
        raise BadRequest("the Content-Type header must be ASCII")
    event = await request.app[PUBLISHING].post_content(name, content_type, body)
    return web.json_response(
        {
            "topic": request.app[SETTINGS].topic_url(name),
            "event": event.id,
            "subscriptions": event.deliveries,
        },
        status=202,
    )
