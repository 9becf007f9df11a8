"""Named errors of the hub, and the one place they become HTTP responses.

    HubError                      status, plain message safe to show the caller
    ├── BadRequest (400)
    │   ├── MissingParameter      a required form field is absent or empty
    │   ├── InvalidMode           hub.mode is not one the hub knows
    │   ├── InvalidCallback       hub.callback is not an absolute http(s) URL
    │   ├── InvalidTopic          hub.topic / hub.url is not an absolute http(s) URL
    │   ├── InvalidLease          hub.lease_seconds is not a positive integer
    │   ├── SecretTooLong         hub.secret is 200 bytes or more (WebSub §5.1)
    │   ├── InvalidParameter      another parameter has a value the hub cannot use
    │   └── InvalidBody           a request body that cannot be parsed
    ├── Unauthorized (401)        no or unknown bearer token
    ├── Forbidden (403)
    │   ├── TopicNotAllowed       the hub's policy refuses the topic
    │   └── CallbackNotAllowed    the callback resolves to an address the hub will not call
    ├── NotFound (404)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── TooManyRequests (429)     a rate limit or a cap was reached; carries Retry-After
    └── StoreUnavailable (503)    the database cannot take writes now (locked, disk full)

Handlers raise these; `error_middleware` renders them as text/plain for WebSub endpoints and as a
JSON object `{"error": ..., "message": ...}` for the JSON APIs. Anything else that escapes a handler
is logged and answered with a bare 500, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = [
    "JSON_API_PREFIXES",
    "BadRequest",
    "CallbackNotAllowed",
    "Forbidden",
    "HubError",
    "InvalidBody",
    "InvalidCallback",
    "InvalidLease",
    "InvalidMode",
    "InvalidParameter",
    "InvalidTopic",
    "MissingParameter",
    "NotFound",
    "PayloadTooLarge",
    "SecretTooLong",
    "StoreUnavailable",
    "TooManyRequests",
    "TopicNotAllowed",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_middleware",
]

log = logging.getLogger("sethub.http")

# Paths whose callers speak JSON; everything else (the WebSub surface) gets text/plain errors.
JSON_API_PREFIXES = ("/events", "/admin")
STORE_RETRY_AFTER_SECONDS = 5


class HubError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(HubError):
    status = 400
    code = "bad_request"


class MissingParameter(BadRequest):
    code = "missing_parameter"


class InvalidMode(BadRequest):
    code = "invalid_mode"


class InvalidCallback(BadRequest):
    code = "invalid_callback"


class InvalidTopic(BadRequest):
    code = "invalid_topic"


class InvalidLease(BadRequest):
    code = "invalid_lease"


class SecretTooLong(BadRequest):
    code = "secret_too_long"


class InvalidParameter(BadRequest):
    code = "invalid_parameter"


class InvalidBody(BadRequest):
    code = "invalid_body"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="sethub"'}


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class TopicNotAllowed(Forbidden):
    code = "topic_not_allowed"


class CallbackNotAllowed(Forbidden):
    code = "callback_not_allowed"


class NotFound(HubError):
    status = 404
    code = "not_found"


class PayloadTooLarge(HubError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HubError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(HubError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StoreUnavailable(HubError):
    status = 503
    code = "unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)}


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


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HubError as error:
        return render_error(request, error)
    except web.HTTPRequestEntityTooLarge:
        return render_error(request, PayloadTooLarge("request body is too large"))
    except web.HTTPException as exc:
        if exc.status >= 400 and _wants_json(request):
            return render_error(request, _plain_http_error(exc))
        raise
    except sqlite3.OperationalError as exc:
        # "database is locked", "database or disk is full": nothing was accepted, ask to retry.
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        return render_error(request, StoreUnavailable("storage is unavailable, retry later"))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(request, HubError("internal error"))


def _plain_http_error(exc: web.HTTPException) -> HubError:
    error = HubError(exc.reason)
    error.status = exc.status
    error.code = exc.reason.lower().replace(" ", "_")
    return error
