"""The built-in catalog: every CAEP 1.0 and RISC 1.0 event, and the identity lifecycle events the
identity providers emit, each with its topic and the names vendors give it.

A lifecycle event that means what a standard event means uses the standard URI (logout is CAEP
session-revoked, a changed password is CAEP credential-change, ...), and lives on the topic of
that standard event: a receiver of one topic sees every event of a URI, whatever name it was
published under. Vendor names are those of Logto, cidaas, LoginRadius and Asgardeo (WSO2)
webhooks; each cites the documentation page it is taken from (`_sources.py`). A vendor name whose
meaning depends on its payload is not an alias: `PAYLOAD_DEPENDENT` says which events it becomes,
and the vendor's bridge (`hub.intake.bridges`) decides from the payload.

CAEP interoperability profile 1.0 requires `reason_admin` on session-revoked and
credential-change: those entries carry a default text, which a publisher's own replaces.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from . import _caep as caep
from . import _identity as idn
from . import _risc as risc
from ._aliases import (
    WSO2_EVENT_BASE,
    Alias,
    Entry,
    asgardeo,
    cidaas,
    loginradius,
    logto,
)

__all__ = [
    "BUILT_IN",
    "PAYLOAD_DEPENDENT",
    "PAYLOAD_DEPENDENT_MEANINGS",
    "WSO2_EVENT_BASE",
    "Alias",
    "Entry",
]

def _reason(text: str) -> dict[str, Any]:
    return {"reason_admin": {"en": text}}


def _caep(
    name: str,
    topic: str,
    model: type[BaseModel],
    *aliases: tuple[Alias, ...],
    defaults: dict[str, Any] | None = None,
) -> Entry:
    return Entry(name, "caep", name, topic, model, _flat(aliases), defaults or {})


def _risc(
    name: str, topic: str, model: type[BaseModel] = risc.RiscEvent, *aliases: tuple[Alias, ...]
) -> Entry:
    return Entry(name, "risc", name, topic, model, _flat(aliases))


def _as(
    name: str,
    standard: str,
    uri_name: str,
    topic: str,
    model: type[BaseModel],
    *aliases: tuple[Alias, ...],
    defaults: dict[str, Any] | None = None,
) -> Entry:
    return Entry(name, standard, uri_name, topic, model, _flat(aliases), defaults or {})


def _own(name: str, topic: str, model: type[BaseModel], *aliases: tuple[Alias, ...]) -> Entry:
    return Entry(name, "sethub", name, topic, model, _flat(aliases))


def _flat(groups: tuple[tuple[Alias, ...], ...]) -> tuple[Alias, ...]:
    return tuple(alias for group in groups for alias in group)


def _credential(credential_type: str | None, change_type: str, text: str) -> dict[str, Any]:
    values: dict[str, Any] = {"change_type": change_type, **_reason(text)}
    if credential_type is not None:
        values["credential_type"] = credential_type
    return values


CREDENTIAL_URI = "credential-change"

BUILT_IN: tuple[Entry, ...] = (
    # CAEP 1.0
    _caep(
        "session-revoked",
        "session",
        caep.SessionRevoked,
        asgardeo("session", "sessionRevoked"),
        defaults=_reason("Session revoked"),
    ),
    _caep("token-claims-change", "token", caep.TokenClaimsChange),
    _caep("credential-change", "credential", caep.CredentialChange,
          defaults=_reason("Credential changed")),
    _caep("assurance-level-change", "risk", caep.AssuranceLevelChange),
    _caep("device-compliance-change", "risk", caep.DeviceComplianceChange),
    _caep("session-established", "session", caep.SessionEstablished,
          asgardeo("session", "sessionEstablished")),
    _caep("session-presented", "session", caep.SessionPresented,
          asgardeo("session", "sessionPresented")),
    _caep("risk-level-change", "risk", caep.RiskLevelChange),
    # RISC 1.0
    _risc("account-credential-change-required", "credential"),
    _risc("account-purged", "account"),
    _risc("account-disabled", "account", risc.AccountDisabled),
    _risc("account-enabled", "account"),
    _risc("identifier-changed", "account", risc.IdentifierChanged),
    _risc("identifier-recycled", "account"),
    _risc("credential-compromise", "credential", risc.CredentialCompromise),
    _risc("opt-in", "account"),
    _risc("opt-out-initiated", "account"),
    _risc("opt-out-cancelled", "account"),
    _risc("opt-out-effective", "account"),
    _risc("recovery-activated", "account"),
    # RISC §2.5/§2.10: an added or removed recovery address, at a provider that is not the
    # authority over it, is recovery-information-changed (not identifier-changed).
    _risc(
        "recovery-information-changed",
        "account",
        risc.RiscEvent,
        loginradius("AddEmail", "RemoveEmail", "RemovePhoneId"),
    ),
    _risc("sessions-revoked", "session"),  # deprecated by RISC in favour of CAEP session-revoked
    # Identity lifecycle events, on a standard URI where one means the same thing
    _as(
        "login-succeeded",
        "caep",
        "session-established",
        "session",
        caep.SessionEstablished,
        logto("PostSignIn"),
        cidaas("USER_LOGIN", "LOGIN_WITH_CIDAAS", "LOGIN_WITH_SOCIAL"),
        loginradius("Login"),
        asgardeo("login", "loginSuccess"),
    ),
    _own(
        "login-failed",
        "login",
        idn.LoginFailed,
        cidaas("USER_LOGIN_FAILURE", "LOGIN_FAILURE"),
        asgardeo("login", "loginFailed"),
    ),
    _as(
        "logout",
        "caep",
        "session-revoked",
        "session",
        caep.SessionRevoked,
        cidaas("LOGOUT"),
        defaults=_reason("User logged out"),
    ),
    _own(
        "registration-succeeded",
        "registration",
        idn.RegistrationEvent,
        logto("PostRegister"),
        cidaas("USER_CREATED_WITH_INVITE", "INVITE_ACCEPTED"),
        loginradius("Register"),
        asgardeo("registration", "registrationSuccess"),
    ),
    _own(
        "registration-failed",
        "registration",
        idn.RegistrationEvent,
        asgardeo("registration", "registrationFailed"),
    ),
    _own(
        "user-created",
        "account",
        idn.IdentityEvent,
        logto("User.Created"),
        cidaas("USER_CREATED", "ACCOUNT_CREATED_WITH_CIDAAS_IDENTITY",
               "ACCOUNT_CREATED_WITH_SOCIAL_IDENTITY"),
        asgardeo("user", "userCreated"),
    ),
    _own(
        "user-updated",
        "account",
        idn.IdentityEvent,
        logto("User.Data.Updated"),
        cidaas("USER_MODIFIED", "ACCOUNT_MODIFIED", "PROFILE_IMAGE_UPDATED",
               "PROFILE_IMAGE_REMOVED"),
        loginradius("UpdateProfile", "SetUsername"),
        loginradius("UpdateUID", source="loginradius-api"),
        asgardeo("user", "userProfileUpdated"),
    ),
    _as(
        "user-deleted",
        "risc",
        "account-purged",
        "account",
        risc.RiscEvent,
        logto("User.Deleted"),
        cidaas("USER_DELETED", "ACCOUNT_DELETED"),
        loginradius("DeleteAccount"),
        asgardeo("user", "userDeleted"),
    ),
    _own("deletion-scheduled", "account", idn.IdentityEvent, cidaas("ACCOUNT_DELETION_SCHEDULED")),
    _as(
        "user-enabled",
        "risc",
        "account-enabled",
        "account",
        risc.RiscEvent,
        cidaas("USER_ENABLED", "ACCOUNT_ACTIVATED"),
        asgardeo("user", "userEnabled"),
    ),
    _as(
        "user-disabled",
        "risc",
        "account-disabled",
        "account",
        risc.AccountDisabled,
        cidaas("USER_DISABLED", "ACCOUNT_DEACTIVATED"),
        asgardeo("user", "userDisabled"),
    ),
    _own(
        "user-locked",
        "account",
        idn.UserLocked,
        logto("Identifier.Lockout", source="logto-request"),
        cidaas("ACCOUNT_LOCKED"),
        asgardeo("user", "userAccountLocked"),
    ),
    _own("user-unlocked", "account", idn.IdentityEvent, asgardeo("user", "userAccountUnlocked")),
    _own("user-blocked", "account", idn.IdentityEvent, cidaas("USER_BLOCKED")),
    _as(
        "password-changed",
        "caep",
        CREDENTIAL_URI,
        "credential",
        caep.CredentialChange,
        cidaas("USER_PASSWORD_CHANGED", "PASSWORD_CHANGED"),
        loginradius("ChangePassword", "SetPassword"),
        asgardeo("credential", "credentialUpdated"),
        defaults=_credential("password", "update", "Password changed"),
    ),
    _own(
        "password-reset-initiated",
        "credential",
        idn.IdentityEvent,
        cidaas("USER_PASSWORD_RESET_INITIATE", "PASSWORD_RESET_INITIATE"),
    ),
    _as(
        "password-reset",
        "caep",
        CREDENTIAL_URI,
        "credential",
        caep.CredentialChange,
        logto("PostResetPassword"),
        cidaas("USER_PASSWORD_RESET", "PASSWORD_RESET"),
        loginradius("ResetPassword"),
        defaults=_credential("password", "update", "Password reset"),
    ),
    _as("pin-set", "caep", CREDENTIAL_URI, "credential", caep.CredentialChange,
        loginradius("SetPIN", source="loginradius-api"),
        defaults=_credential("pin", "create", "PIN set")),
    _as("pin-reset", "caep", CREDENTIAL_URI, "credential", caep.CredentialChange,
        loginradius("ResetPIN", source="loginradius-api"),
        defaults=_credential("pin", "update", "PIN reset")),
    _as("pin-changed", "caep", CREDENTIAL_URI, "credential", caep.CredentialChange,
        loginradius("ChangePIN", source="loginradius-api"),
        defaults=_credential("pin", "update", "PIN changed")),
    # Not identifier-changed (RISC §2.5): the identity provider is not the authority over the
    # address or number, so these are sethub's own events; the authority publishes RISC's.
    _own("email-changed", "account", risc.IdentifierChanged, cidaas("EMAIL_CHANGED")),
    _own("phone-changed", "account", risc.IdentifierChanged, loginradius("UpdatePhoneId")),
    _own(
        "email-verified",
        "account",
        idn.IdentityEvent,
        cidaas("USER_EMAIL_VERIFIED", "ACCOUNT_EMAIL_VERIFIED"),
        loginradius("emailVerification"),
    ),
    _own(
        "email-unverified",
        "account",
        idn.IdentityEvent,
        cidaas("ACCOUNT_EMAIL_UNVERIFIED"),
        loginradius("InvalidateEmailVerification"),
    ),
    _own(
        "phone-verified",
        "account",
        idn.IdentityEvent,
        cidaas("USER_MOBILE_NO_VERIFIED", "ACCOUNT_MOBILE_NO_VERIFIED"),
        loginradius("VerifyPhoneNumber"),
    ),
    _own(
        "phone-unverified",
        "account",
        idn.IdentityEvent,
        cidaas("ACCOUNT_MOBILE_NO_UNVERIFIED"),
        loginradius("InvalidatePhoneVerification"),
    ),
    _as("mfa-enrolled", "caep", CREDENTIAL_URI, "credential", caep.CredentialChange,
        defaults=_credential(None, "create", "MFA factor enrolled")),
    _as("mfa-removed", "caep", CREDENTIAL_URI, "credential", caep.CredentialChange,
        defaults=_credential(None, "delete", "MFA factor removed")),
    _own(
        "mfa-required",
        "credential",
        idn.MfaEvent,
        logto("PostSignInAdaptiveMfaTriggered", source="logto-source"),
        cidaas("MFA_REQUIRED"),
    ),
    _own("mfa-challenged", "credential", idn.MfaEvent, cidaas("MFA_INITIATED", "MFA_RE_INITIATED")),
    _own("mfa-verified", "credential", idn.MfaEvent, cidaas("MFA_VERIFIED")),
    _own("mfa-failed", "credential", idn.MfaEvent),
    _own(
        "role-assigned",
        "authorization",
        idn.RoleEvent,
        cidaas("GROUP_USER_ROLE_ADDED", "GROUP_ADMIN_ADDED", "GROUP_FIRST_ADMIN_ADDED"),
        loginradius("AssignRoles"),
    ),
    _own(
        "role-unassigned",
        "authorization",
        idn.RoleEvent,
        cidaas("GROUP_USER_ROLE_REMOVED"),
        loginradius("UnassignRoles", "RemoveRoleContext"),
    ),
    _own("group-member-added", "authorization", idn.MembershipEvent,
         cidaas("GROUP_NEW_USER_ADDED")),
    _own("group-member-removed", "authorization", idn.MembershipEvent,
         cidaas("GROUP_USER_REMOVED")),
    _own(
        "identity-linked",
        "account",
        idn.IdentityLinkEvent,
        cidaas("USER_IDENTITY_ADDED", "ACCOUNT_SOCIALIDENTITY_ADDED",
               "ACCOUNT_CIDAASIDENTITY_ADDED"),
        loginradius("LinkAccount"),
    ),
    _own(
        "identity-unlinked",
        "account",
        idn.IdentityLinkEvent,
        cidaas("USER_IDENTITY_REMOVED", "ACCOUNT_SOCIALIDENTITY_REMOVED",
               "ACCOUNT_CIDAASIDENTITY_REMOVED"),
        loginradius("UnlinkAccount"),
    ),
    _own(
        "consent-granted",
        "account",
        idn.IdentityEvent,
        cidaas("CONSENT_ACCEPTED"),
        asgardeo("consent", "consentAdded", source="wso2-events"),
    ),
    _own(
        "consent-revoked",
        "account",
        idn.IdentityEvent,
        cidaas("CONSENT_REJECTED"),
        asgardeo("consent", "consentRevoked", source="wso2-events"),
    ),
    _own("consent-updated", "account", idn.IdentityEvent,
         loginradius("ConsentProfileUpdate", source="loginradius-api")),
    _own(
        "access-token-issued",
        "token",
        idn.AccessTokenEvent,
        cidaas("ACCESS_TOKEN_OBTAINED", "TOKEN_RENEWED"),
        asgardeo("token", "accessTokenIssued"),
    ),
    _own("access-token-revoked", "token", idn.AccessTokenEvent,
         asgardeo("token", "accessTokenRevoked")),
)

# Real vendor names that mean one of several events depending on their payload. They resolve to
# no entry: publishing one by name is refused with this explanation; the vendor's bridge maps it.
PAYLOAD_DEPENDENT: MappingProxyType[str, Alias] = MappingProxyType(
    {
        alias.name: alias
        for alias in (
            *logto("User.SuspensionStatus.Updated"),
            *loginradius("BlockAccount", source="loginradius-api"),
        )
    }
)
PAYLOAD_DEPENDENT_MEANINGS = MappingProxyType(
    {
        "User.SuspensionStatus.Updated": "user-disabled or user-enabled, by data.isSuspended",
        "BlockAccount": (
            "user-locked, user-disabled or user-enabled, by Data.IsLoginLocked and Data.IsActive"
        ),
    }
)
