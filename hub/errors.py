"""Named errors of the hub, each with the HTTP status and code it is answered with.

    HubError                      status, plain message safe to show the caller
    ├── BadRequest (400)
    │   └── InvalidBody           a request body that cannot be parsed
    ├── Unauthorized (401)        no or unknown bearer token
    ├── Forbidden (403)
    │   ├── TopicNotAllowed       the hub's policy refuses the topic
    │   └── CallbackNotAllowed    the callback resolves to an address the hub will not call
    ├── NotFound (404)
    ├── RequestTimeout (408)      the body did not arrive in time; the connection is closed
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── TooManyRequests (429)     a rate limit or a cap was reached; carries Retry-After
    ├── StoreUnavailable (503)    the database cannot take writes now (locked, disk full)
    └── ShuttingDown (503)        the hub is stopping: the request was not taken, or not confirmed

A WebSub request the Recommendation does not allow raises `hub.websub.ProtocolError`
instead (the protocol module knows nothing of HTTP answers); it is answered 400 like BadRequest.

Domain code raises these; they carry their HTTP status and code as plain data and import nothing
of HTTP. `hub.intake.middleware` is the one place they become responses.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "CallbackNotAllowed",
    "Forbidden",
    "HubError",
    "InvalidBody",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ShuttingDown",
    "StoreUnavailable",
    "TooManyRequests",
    "TopicNotAllowed",
    "Unauthorized",
    "UnsupportedMediaType",
]

STORE_RETRY_AFTER_SECONDS = 5
SHUTDOWN_RETRY_AFTER_SECONDS = 5


class HubError(Exception):
    status = 500
    code = "internal_error"
    # The connection ends with the answer: what is left of the request will never be read.
    closes_connection = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(HubError):
    status = 400
    code = "bad_request"









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


class RequestTimeout(HubError):
    """A request whose body was still not all there after `body_read_timeout`: answered, and
    its connection closed, so a client that stalls mid-body holds neither for long."""

    status = 408
    code = "request_timeout"
    closes_connection = True

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


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


class ShuttingDown(HubError):
    """The hub is stopping: a publish it no longer takes, or one it took but could not confirm
    before the stop's deadline (its outcome is unknown: the same event ids publish it once)."""

    status = 503
    code = "shutting_down"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(SHUTDOWN_RETRY_AFTER_SECONDS)}
