"""An aiohttp handler for RFC 8935 push delivery: verify, hand over, answer.

202 with an empty body once the application's callback returned; 400 with
`{"err", "description"}` and `Content-Language` for a SET that fails verification (the transmitter
must not retry it); a SET received again (same jti) is answered 202 without a second hand-over, as
§2 asks; if the callback raises, the error propagates (a 5xx), the jti is forgotten, and the
transmitter's retry is processed as new. When the receiver cannot decide (its issuer's keys cannot
be fetched), it answers 503 with Retry-After: the SET is not rejected, and comes again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from ._bodies import read_body
from ._verify import VerifiedSet, Verifier
from .errors import InvalidRequest, ReplayedToken, SetError, Unavailable

__all__ = [
    "MAX_SET_BYTES",
    "SET_MEDIA_TYPE",
    "make_push_handler",
    "rejection_response",
    "unavailable_response",
]

SET_MEDIA_TYPE = "application/secevent+jwt"
MAX_SET_BYTES = 64 * 1024

EventCallback = Callable[[VerifiedSet], Awaitable[None]]


def rejection_response(error: SetError) -> web.Response:
    """RFC 8935 §2.3: 400, a JSON error object and a Content-Language header."""
    return web.Response(
        status=400,
        text=json.dumps(error.to_json()),
        content_type="application/json",
        headers={"Content-Language": "en"},
    )


def unavailable_response(error: Unavailable) -> web.Response:
    """503 with Retry-After (whole seconds, at least 1): the transmitter keeps the SET and retries.
    The body names the class of problem only; the cause stays in the receiver's own logs."""
    return web.Response(
        status=503,
        text="this receiver cannot verify SETs right now; retry later\n",
        headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
    )


def make_push_handler(
    verifier: Verifier, on_event: EventCallback, *, max_bytes: int = MAX_SET_BYTES
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def receive(request: web.Request) -> web.Response:
        if request.content_type != SET_MEDIA_TYPE:
            # Not a SET at all: a permanent error for this request, so 400 rather than 415.
            return rejection_response(InvalidRequest(f"the body must be {SET_MEDIA_TYPE}"))
        body = await read_body(request.content, max_bytes)
        if body is None:
            return rejection_response(InvalidRequest("the SET is too large"))
        try:
            token = body.decode("ascii").strip()
            verified = await verifier.verify(token)
            verifier.accept(verified)
        except UnicodeDecodeError:
            return rejection_response(InvalidRequest("a compact JWS is ASCII"))
        except ReplayedToken:
            return web.Response(status=202)  # already received and handed over
        except SetError as error:
            return rejection_response(error)
        except Unavailable as error:
            return unavailable_response(error)
        try:
            await on_event(verified)
        except BaseException:
            verifier.forget(verified)
            raise
        return web.Response(status=202)

    return receive
