"""Reading request bodies: a body that cannot be read as sent is the client's error (400), and
one that does not arrive within `body_read_timeout` is answered 408 on a connection then closed.

The listener bounds how long a request head may take (`header_read_timeout`, `keepalive_timeout`:
hub.cli.listener), but once the head is in, aiohttp waits for the body as long as the client
likes: a head with `Content-Length: 1000` and ten bytes of body held its connection and its
handler for good (and aiohttp 3.14 can wait for good on a truncated compressed body too). The
deadline runs from when the handler starts reading, over the whole body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from multidict import MultiDictProxy

from ...appkeys import SETTINGS
from ...errors import InvalidBody, RequestTimeout

__all__ = ["UndecodableBody", "read_body", "read_form"]


class UndecodableBody(InvalidBody):
    """aiohttp could not read the body as its headers describe it: bytes that do not match the
    Content-Encoding (`gzip` over plain text), broken chunked framing. Where the body ends is then
    unknown and aiohttp closes the connection after the answer, which says so to the client."""

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


@asynccontextmanager
async def _body_deadline(request: web.Request) -> AsyncIterator[None]:
    seconds = request.app[SETTINGS].body_read_timeout
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise RequestTimeout(f"the request body did not arrive within {seconds:g}s") from exc


async def read_body(request: web.Request) -> bytes:
    try:
        async with _body_deadline(request):
            return await request.read()
    except web.RequestPayloadError as exc:
        raise UndecodableBody("the request body cannot be decoded as sent") from exc


async def read_form(request: web.Request) -> MultiDictProxy[str | web.FileField]:
    """A form body, decoded in the charset it declares (the caller checks which)."""
    try:
        async with _body_deadline(request):
            return await request.post()
    except web.RequestPayloadError as exc:
        raise UndecodableBody("the request body cannot be decoded as sent") from exc
    except (ValueError, UnicodeDecodeError, LookupError) as exc:
        raise InvalidBody("the form body cannot be decoded") from exc
