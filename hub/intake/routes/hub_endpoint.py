"""`POST /hub`: subscribe, unsubscribe (WebSub §5.1) and publish (§6) requests."""

from __future__ import annotations

from aiohttp import web

from ...appkeys import PUBLISHING, SETTINGS, STORE, SUBSCRIBING
from ...errors import PayloadTooLarge, UnsupportedMediaType
from ...websub import PublishRequest, parse_hub_request
from ..auth import authenticate
from ..limits import client_key
from .bodies import read_form

__all__ = ["routes"]

routes = web.RouteTableDef()
FORM_TYPE = "application/x-www-form-urlencoded"  # WebSub §5.1: the only request format
# The charsets a form may declare (none means UTF-8). Others are refused before anything is
# decoded: some turn bytes into code points that are not text (utf-7 `+2AA-` is a lone surrogate).
FORM_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})


def accepted() -> web.Response:
    return web.Response(status=202, text="Accepted\n", content_type="text/plain")


@routes.post("/hub")
async def hub_request(request: web.Request) -> web.Response:
    if request.content_type != FORM_TYPE:
        raise UnsupportedMediaType(f"the hub takes {FORM_TYPE} requests")
    if request.charset is not None and request.charset.lower() not in FORM_CHARSETS:
        raise UnsupportedMediaType(f"the hub takes {FORM_TYPE} requests in UTF-8")
    form = await read_form(request)
    if len(form) > request.app[SETTINGS].max_form_parameters:
        raise PayloadTooLarge("too many form parameters")
    parsed = parse_hub_request(form)  # type: ignore[arg-type]
    if isinstance(parsed, PublishRequest):
        await _publish(request, parsed)
    else:
        await request.app[SUBSCRIBING].request(
            parsed, client=request.remote, authorization=request.headers.get("Authorization")
        )
    return accepted()


async def _publish(request: web.Request, parsed: PublishRequest) -> None:
    """Pings need a publish token unless --open-publish; hub-owned topics always need one."""
    settings = request.app[SETTINGS]
    authorization = request.headers.get("Authorization")
    publishing = request.app[PUBLISHING]
    if authorization is not None or not settings.open_publish:
        token = await authenticate(request.app[STORE], authorization, action="publish")
        publishing.admit(f"token:{token.id}")
        await publishing.ping(parsed.topics, may_publish_own=True)
    else:
        publishing.admit(f"client:{client_key(request.remote)}")
        await publishing.ping(parsed.topics, may_publish_own=False)
