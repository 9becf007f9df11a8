"""Event payload models: CAEP 1.0, RISC 1.0 and sethub's identity lifecycle events."""

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
from ._common import CaepPayload, EventPayload
from ._risc import RISC_BASE, AccountDisabled, CredentialCompromise, IdentifierChanged, RiscEvent

__all__ = [
    "CAEP_BASE",
    "RISC_BASE",
    "AccountDisabled",
    "AssuranceLevelChange",
    "CaepPayload",
    "CredentialChange",
    "CredentialCompromise",
    "DeviceComplianceChange",
    "EventPayload",
    "IdentifierChanged",
    "RiscEvent",
    "RiskLevelChange",
    "SessionEstablished",
    "SessionPresented",
    "SessionRevoked",
    "TokenClaimsChange",
]
