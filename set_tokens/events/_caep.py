"""CAEP 1.0 event payloads (base URI https://schemas.openid.net/secevent/caep/event-type/)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo

from ._common import CaepPayload

__all__ = [
    "CAEP_BASE",
    "CREDENTIAL_TYPES",
    "AssuranceLevelChange",
    "CredentialChange",
    "DeviceComplianceChange",
    "RiskLevelChange",
    "SessionEstablished",
    "SessionPresented",
    "SessionRevoked",
    "TokenClaimsChange",
]

CAEP_BASE = "https://schemas.openid.net/secevent/caep/event-type/"

# CAEP 1.0 §3.3 lists these values "or any other credential type supported mutually by the
# Transmitter and the Receiver": the catalog validates with the values its operator agreed on
# (`Catalog(agreed_credential_types=...)`, passed as validation context).
CREDENTIAL_TYPES: tuple[str, ...] = (
    "password",
    "pin",
    "x509",
    "fido2-platform",
    "fido2-roaming",
    "fido-u2f",
    "verifiable-credential",
    "phone-voice",
    "phone-sms",
    "app",
)


def _known_credential_type(value: str, info: ValidationInfo) -> str:
    agreed = (info.context or {}).get("agreed_credential_types", ())
    if value in CREDENTIAL_TYPES or value in agreed:
        return value
    known = ", ".join((*CREDENTIAL_TYPES, *agreed))
    raise ValueError(f"must be one of {known} (or a type agreed with the receivers)")


CredentialType = Annotated[str, AfterValidator(_known_credential_type)]


class SessionRevoked(CaepPayload):
    pass


class TokenClaimsChange(CaepPayload):
    claims: dict[str, Any]


class CredentialChange(CaepPayload):
    credential_type: CredentialType
    change_type: Literal["create", "revoke", "update", "delete"]
    friendly_name: str | None = None
    x509_issuer: str | None = None
    x509_serial: str | None = None
    fido2_aaguid: str | None = None


class AssuranceLevelChange(CaepPayload):
    namespace: str = Field(min_length=1)  # RFC8176, RFC6711, ISO-IEC-29115, NIST-IAL/AAL/FAL, ...
    current_level: str = Field(min_length=1)
    previous_level: str | None = None
    change_direction: Literal["increase", "decrease"] | None = None


class DeviceComplianceChange(CaepPayload):
    previous_status: Literal["compliant", "not-compliant"]
    current_status: Literal["compliant", "not-compliant"]


class SessionEstablished(CaepPayload):
    fp_ua: str | None = None
    acr: str | None = None
    amr: list[str] | None = None
    ext_id: str | None = None


class SessionPresented(CaepPayload):
    fp_ua: str | None = None
    ext_id: str | None = None


class RiskLevelChange(CaepPayload):
    principal: Literal["USER", "DEVICE", "SESSION", "TENANT", "ORG_UNIT", "GROUP"]
    current_level: Literal["LOW", "MEDIUM", "HIGH"]
    previous_level: Literal["LOW", "MEDIUM", "HIGH"] | None = None
    risk_reason: str | None = None
