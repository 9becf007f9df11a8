"""Every error set_tokens raises. Token problems carry their RFC 8935 §2.4 error code.

The SET errors, `ConfigurationError` and `KeysUnavailable` are also at the top of `set_tokens`;
the rest are in the submodule named on the right.

SetError                        .err: RFC 8935 code, .description: safe for the transmitter
├── InvalidRequest              invalid_request: unparseable, wrong shape, not a SET
│   └── ReplayedToken           a jti accepted before (answer 202: it was received already)
├── InvalidKey                  invalid_key: bad signature, unknown kid, unacceptable algorithm
├── InvalidIssuer               invalid_issuer
├── InvalidAudience             invalid_audience
├── AuthenticationFailed        authentication_failed
└── AccessDenied                access_denied

ConfigurationError              a key, key set or setting that cannot be loaded or used: a problem
                                of the party's own configuration, never of a received token

Unavailable                     something the receiver needs is out of reach right now: no verdict
│                               on the token; answer 503 + Retry-After and the transmitter retries
└── KeysUnavailable             the issuer's keys cannot be fetched (also a ConfigurationError,
                                which is what RemoteJwks.key raised for a failed fetch before)

SubscriptionFailed              set_tokens.websub: the hub refused a (un)subscribe or never
│                               verified it; .status is the hub's HTTP status
└── DiscoveryError              set_tokens.websub: the topic URL names no hub (.status 404: no
                                such topic; None: it cannot be reached)

UnknownEventType (LookupError)  set_tokens.events: a name or URI the catalog does not know
InvalidEventPayload (ValueError)  set_tokens.events: a payload that does not fit its event type
InvalidSubjectIdentifier (ValueError)  set_tokens.subjects: not an RFC 9493 subject identifier
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "ConfigurationError",
    "InvalidAudience",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidRequest",
    "KeysUnavailable",
    "ReplayedToken",
    "SetError",
    "Unavailable",
]

DEFAULT_RETRY_AFTER = 5.0


class SetError(Exception):
    """A SET was rejected. `description` says what class of problem it was, for the sender."""

    err = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def to_json(self) -> dict[str, str]:
        """The RFC 8935 §2.3 error body."""
        return {"err": self.err, "description": self.description}


class InvalidRequest(SetError):
    err = "invalid_request"


class ReplayedToken(InvalidRequest):
    pass


class InvalidKey(SetError):
    err = "invalid_key"


class InvalidIssuer(SetError):
    err = "invalid_issuer"


class InvalidAudience(SetError):
    err = "invalid_audience"


class AuthenticationFailed(SetError):
    err = "authentication_failed"


class AccessDenied(SetError):
    err = "access_denied"


class ConfigurationError(Exception):
    """A key, key set or verifier setting that cannot be used (not a problem of any token)."""


class Unavailable(Exception):
    """The receiver cannot decide about a SET now. Not a `SetError`: an RFC 8935 400 would tell
    the transmitter never to send this SET again, and the SET may well be good. `retry_after`
    says in how many seconds trying again makes sense."""

    def __init__(self, message: str, *, retry_after: float = DEFAULT_RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KeysUnavailable(Unavailable, ConfigurationError):
    """The issuer's JWKS cannot be fetched (timeout, refused, not 200, not a JWKS)."""
