"""Event types and their payloads: the catalog, CAEP 1.0, RISC 1.0 and sethub's identity events.

`Catalog` (also at the top of `set_tokens`) looks an event type up by URI, short name or a
vendor's name; `default_catalog()` is the shared one a `Verifier` uses unless given another. Each
`EventType` names its payload model; a verified SET's `payload` is an instance of it.
"""

from ._caep import (
    CAEP_BASE,
    AssuranceLevelChange,
    CredentialChange,
    DeviceComplianceChange,
    RiskLevelChange,
    SessionEstablished,
    SessionPresented,
    SessionRevoked,
    TokenClaimsChange,
)
from ._catalog import (
    DEFAULT_NAMESPACE,
    Catalog,
    EventType,
    InvalidEventPayload,
    UnknownEventType,
    default_catalog,
)
from ._common import CaepPayload, EventPayload
from ._identity import (
    AccessTokenEvent,
    IdentityEvent,
    IdentityLinkEvent,
    LoginFailed,
    MembershipEvent,
    MfaEvent,
    RegistrationEvent,
    RoleEvent,
    UserLocked,
)
from ._risc import RISC_BASE, AccountDisabled, CredentialCompromise, IdentifierChanged, RiscEvent

__all__ = [
    "CAEP_BASE",
    "DEFAULT_NAMESPACE",
    "RISC_BASE",
    "AccessTokenEvent",
    "AccountDisabled",
    "AssuranceLevelChange",
    "CaepPayload",
    "Catalog",
    "CredentialChange",
    "CredentialCompromise",
    "DeviceComplianceChange",
    "EventPayload",
    "EventType",
    "IdentifierChanged",
    "IdentityEvent",
    "IdentityLinkEvent",
    "InvalidEventPayload",
    "LoginFailed",
    "MembershipEvent",
    "MfaEvent",
    "RegistrationEvent",
    "RiscEvent",
    "RiskLevelChange",
    "RoleEvent",
    "SessionEstablished",
    "SessionPresented",
    "SessionRevoked",
    "TokenClaimsChange",
    "UnknownEventType",
    "UserLocked",
    "default_catalog",
]
