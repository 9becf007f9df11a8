"""Reading request bodies: a body that cannot be read as sent is the client's error (400)."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from ...errors import InvalidBody

__all__ = ["UndecodableBody", "read_body", "read_form"]


class UndecodableBody(InvalidBody):
    """aiohttp could not read the body as its headers describe it: bytes that do not match the
    Content-Encoding (`gzip` over plain text), broken chunked framing. Where the body ends is then
    unknown and aiohttp closes the connection after the answer, which says so to the client."""

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.RequestPayloadError as exc:
        raise UndecodableBody("the request body cannot be decoded as sent") from exc


async def read_form(request: web.Request) -> MultiDictProxy[str | web.FileField]:
    """A form body, decoded in the charset it declares (the caller checks which)."""
    try:
        return await request.post()
    except web.RequestPayloadError as exc:
        raise UndecodableBody("the request body cannot be decoded as sent") from exc
    except (ValueError, UnicodeDecodeError, LookupError) as exc:
        raise InvalidBody("the form body cannot be decoded") from exc
