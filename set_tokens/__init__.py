"""Security Event Tokens (RFC 8417) for transmitters and receivers.

Issue: `issue(key=..., issuer=..., audience=..., event_type=..., payload=..., subject=...)`.
Verify: `verified = await verifier.verify(token)` with
`verifier = Verifier(issuer=..., audience=..., algorithms=[...], jwks=...)`, then
`verifier.accept(verified)` (records the jti, refuses a replay) before acting on it.
Receive: `make_push_handler(verifier, on_event)` for RFC 8935 push, `WebSubSubscriber` for WebSub.
"""

from ._catalog import (
    DEFAULT_NAMESPACE,
    Catalog,
    EventType,
    InvalidEventPayload,
    UnknownEventType,
    default_catalog,
)
from ._claims import SecurityEventToken
from ._errors import (
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
    Unavailable,
)
from ._issue import SET_TYP, build_claims, issue, sign_claims
from ._jwks import JwksSource, RemoteJwks, StaticJwks
from ._keys import ALGORITHMS, KeySet, SigningKey, jwk_thumbprint
from ._receive import SET_MEDIA_TYPE, make_push_handler, rejection_response
from ._replay import ReplayCache, ReplayStore
from ._replay_sqlite import SqliteReplayCache
from ._subjects import (
    AccountId,
    AliasesId,
    ComplexId,
    DidId,
    EmailId,
    InvalidSubjectIdentifier,
    IpAddressesId,
    IssSubId,
    JwtIdId,
    OpaqueId,
    PhoneNumberId,
    SamlAssertionIdId,
    SubjectIdentifier,
    UriId,
    parse_subject_identifier,
    subjects_match,
)
from ._subscriber import (
    DiscoveryError,
    SubscriptionFailed,
    TopicSubscription,
    WebSubSubscriber,
    discover,
    signature_valid,
)
from ._verify import DEFAULT_MAX_AGE, VerifiedSet, Verifier, unverified_header

__all__ = [
    "ALGORITHMS",
    "DEFAULT_MAX_AGE",
    "DEFAULT_NAMESPACE",
    "SET_MEDIA_TYPE",
    "SET_TYP",
    "AccessDenied",
    "AccountId",
    "AliasesId",
    "AuthenticationFailed",
    "Catalog",
    "ComplexId",
    "ConfigurationError",
    "DidId",
    "DiscoveryError",
    "EmailId",
    "EventType",
    "InvalidAudience",
    "InvalidEventPayload",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidRequest",
    "InvalidSubjectIdentifier",
    "IpAddressesId",
    "IssSubId",
    "JwksSource",
    "JwtIdId",
    "KeySet",
    "KeysUnavailable",
    "OpaqueId",
    "PhoneNumberId",
    "RemoteJwks",
    "ReplayCache",
    "ReplayStore",
    "ReplayedToken",
    "SamlAssertionIdId",
    "SecurityEventToken",
    "SetError",
    "SigningKey",
    "SqliteReplayCache",
    "StaticJwks",
    "SubjectIdentifier",
    "SubscriptionFailed",
    "TopicSubscription",
    "Unavailable",
    "UnknownEventType",
    "UriId",
    "VerifiedSet",
    "Verifier",
    "WebSubSubscriber",
    "build_claims",
    "default_catalog",
    "discover",
    "issue",
    "jwk_thumbprint",
    "make_push_handler",
    "parse_subject_identifier",
    "rejection_response",
    "sign_claims",
    "signature_valid",
    "subjects_match",
    "unverified_header",
]
