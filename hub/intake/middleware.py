"""The one place errors become HTTP responses, and the request counter.

`HubError`s render as text/plain for the WebSub surface and as a JSON object
`{"error": ..., "message": ...}` for the JSON APIs; one that `closes_connection` is sent at once
and its connection closed. A store that cannot work now is a 503 with
Retry-After, logged in one line with its cause. A client that goes away mid-request is one line
too. Anything else that escapes a handler is logged and answered with a bare 500, never a
traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..appkeys import METRICS
from ..errors import BadRequest, HubError, PayloadTooLarge, StoreUnavailable
from ..store import StoreUnavailableError
from ..websub import ProtocolError

__all__ = ["JSON_API_PREFIXES", "count_requests", "error_middleware", "render_error"]

log = logging.getLogger("sethub.http")

# Paths whose callers speak JSON; everything else (the WebSub surface) gets text/plain errors.
JSON_API_PREFIXES = ("/events", "/admin", "/ingest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(JSON_API_PREFIXES)


def render_error(request: web.Request, error: HubError) -> web.Response:
    if _wants_json(request):
        body = json.dumps({"error": error.code, "message": error.message})
        return web.Response(
            status=error.status,
            text=body,
            content_type="application/json",
            headers=error.headers(),
        )
    return web.Response(
        status=error.status,
        text=error.message + "\n",
        content_type="text/plain",
        headers=error.headers(),
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HubError as error:
        if error.closes_connection:
            return await _answer_and_close(request, render_error(request, error))
        return render_error(request, error)
    except ProtocolError as error:
        bad = BadRequest(error.message)
        bad.code = error.code
        return render_error(request, bad)
    except web.HTTPRequestEntityTooLarge:
        return render_error(request, PayloadTooLarge("request body is too large"))
    except web.HTTPException as exc:
        if exc.status >= 400 and _wants_json(request):
            return render_error(request, _plain_http_error(exc))
        raise
    except StoreUnavailableError as exc:
        # "database is locked", "database or disk is full": nothing was accepted, ask to retry.
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        return render_error(request, StoreUnavailable("storage is unavailable, retry later"))
    except ConnectionResetError:
        if not _client_gone(request):
            return _internal_error(request)
        # Nobody reads an answer: one line, not a traceback per dropped connection.
        log.info("client went away during %s %s", request.method, request.path)
        return render_error(request, BadRequest("the client closed the connection"))
    except Exception:
        return _internal_error(request)


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send `response` now and close the connection after it. aiohttp would otherwise go on
    reading what is left of the request body for up to ten seconds (its lingering time) before
    closing, and that is the part a stalled client never sends."""
    response.force_close()
    with contextlib.suppress(ConnectionError):  # a client gone already is sent nothing
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()  # the answer is written: it goes out before the close
    return response


def _internal_error(request: web.Request) -> web.Response:
    """Called in an `except` block: the log gets the traceback, the client none of it."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(request, HubError("internal error"))


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _plain_http_error(exc: web.HTTPException) -> HubError:
    error = HubError(exc.reason)
    error.status = exc.status
    error.code = exc.reason.lower().replace(" ", "_")
    return error


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        request.app[METRICS].requests.labels(route=route, status=str(exc.status)).inc()
        raise
    request.app[METRICS].requests.labels(route=route, status=str(response.status)).inc()
    return response
