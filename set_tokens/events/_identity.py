"""Payloads of identity lifecycle events that have no CAEP or RISC URI (sethub's namespace).

Fields follow what the identity providers put in their webhooks; all are optional unless the event
makes no sense without them, and unknown members are kept.
"""

from __future__ import annotations

from pydantic import Field

from ._common import CaepPayload

__all__ = [
    "AccessTokenEvent",
    "IdentityEvent",
    "IdentityLinkEvent",
    "LoginFailed",
    "MembershipEvent",
    "MfaEvent",
    "RegistrationEvent",
    "RoleEvent",
    "UserLocked",
]


class IdentityEvent(CaepPayload):
    """Common context of an identity event."""

    ip_address: str | None = None
    user_agent: str | None = None
    application: str | None = None
    tenant: str | None = None


class LoginFailed(IdentityEvent):
    reason: str | None = None
    authenticator: str | None = None
    failed_attempts: int | None = Field(default=None, ge=0)


class RegistrationEvent(IdentityEvent):
    method: str | None = None  # e.g. "self", "invite", "admin"
    reason: str | None = None


class UserLocked(IdentityEvent):
    reason: str | None = None
    locked_until: int | None = None  # NumericDate


class MfaEvent(IdentityEvent):
    factor: str | None = None  # e.g. "totp", "sms", "webauthn"


# The role, group and provider are named when the publisher knows them: several vendor webhooks
# (LoginRadius AssignRoles, cidaas GROUP_*) do not carry them, and the event stays true without.
class RoleEvent(IdentityEvent):
    role: str | None = Field(default=None, min_length=1)


class MembershipEvent(IdentityEvent):
    group: str | None = Field(default=None, min_length=1)


class IdentityLinkEvent(IdentityEvent):
    provider: str | None = Field(default=None, min_length=1)  # the linked identity provider


class AccessTokenEvent(IdentityEvent):
    client_id: str | None = None
    grant_type: str | None = None
    scope: str | None = None
    token_type: str | None = None
