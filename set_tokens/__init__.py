"""Security Event Tokens (RFC 8417) for transmitters and receivers.

Issue: `issue(key=..., issuer=..., audience=..., event_type=..., payload=..., subject=...)`.
Verify: `verified = await verifier.verify(token)` with
`verifier = Verifier(issuer=..., audience=..., algorithms=[...], jwks=...)`, then
`verifier.accept(verified)` (records the jti, refuses a replay) before acting on it.
`verified.event_type` is never None: an event URI the catalog does not know gets an
`EventType` named by that URI, with `known` False.
Receive: `make_push_handler(verifier, on_event)` for RFC 8935 push, `WebSubSubscriber` for WebSub.

What a receiver or transmitter needs is here, at the top. The rest is in plainly named submodules:

- `set_tokens.errors`: every error, with the whole exception tree in its docstring;
- `set_tokens.events`: the event catalog, event types and their payload models (CAEP, RISC, ...);
- `set_tokens.subjects`: the RFC 9493 subject identifier formats;
- `set_tokens.websub`: discovery, `X-Hub-Signature` checks and RFC 8935 responses;
- `set_tokens.lowlevel`: issuing in two halves, unverified headers, key thumbprints, the claims
  model, and the interfaces of a key source or jti store of your own.
"""

from ._issue import issue
from ._jwks import RemoteJwks, StaticJwks
from ._keys import ALGORITHMS, KeySet, SigningKey
from ._receive import SET_MEDIA_TYPE, make_push_handler
from ._replay import ReplayCache
from ._replay_sqlite import SqliteReplayCache
from ._subjects import SubjectIdentifier
from ._subscriber import SubscriptionFailed, WebSubSubscriber
from ._verify import VerifiedSet, Verifier
from .errors import (
    AccessDenied,
    AuthenticationFailed,
    ConfigurationError,
    InvalidAudience,
    InvalidIssuer,
    InvalidKey,
    InvalidRequest,
    KeysUnavailable,
    ReplayedToken,
    SetError,
)
from .events import Catalog

__all__ = [
    "ALGORITHMS",
    "SET_MEDIA_TYPE",
    "AccessDenied",
    "AuthenticationFailed",
    "Catalog",
    "ConfigurationError",
    "InvalidAudience",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidRequest",
    "KeySet",
    "KeysUnavailable",
    "RemoteJwks",
    "ReplayCache",
    "ReplayedToken",
    "SetError",
    "SigningKey",
    "SqliteReplayCache",
    "StaticJwks",
    "SubjectIdentifier",
    "SubscriptionFailed",
    "VerifiedSet",
    "Verifier",
    "WebSubSubscriber",
    "issue",
    "make_push_handler",
]
