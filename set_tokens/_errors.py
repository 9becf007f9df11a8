"""Errors of set_tokens. Token problems carry their RFC 8935 §2.4 error code.

SetError                        .err: RFC 8935 code, .description: safe for the transmitter
├── InvalidRequest              invalid_request: unparseable, wrong shape, not a SET
│   └── ReplayedToken           a jti seen before
├── InvalidKey                  invalid_key: bad signature, unknown kid, unacceptable algorithm
├── InvalidIssuer               invalid_issuer
├── InvalidAudience             invalid_audience
├── AuthenticationFailed        authentication_failed
└── AccessDenied                access_denied

KeyError_ (ConfigurationError)  a key or key set that cannot be loaded or used: a problem of
                                the party's own configuration, never of a received token
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
    "ReplayedToken",
    "SetError",
]


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
