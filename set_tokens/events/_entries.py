"""The built-in catalog: every CAEP 1.0 and RISC 1.0 event, and the identity lifecycle events the
identity providers emit, each with its topic and the names vendors give it.

A lifecycle event that means what a standard event means uses the standard URI (logout is CAEP
session-revoked, a changed password is CAEP credential-change, ...). Vendor names are those of
Logto, cidaas, LoginRadius and Asgardeo (WSO2) webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from . import _caep as caep
from . import _identity as idn
from . import _risc as risc

__all__ = ["BUILT_IN", "Entry"]


@dataclass(frozen=True)
class Entry:
    name: str
    standard: str  # "caep" | "risc" | "sethub"
    uri_name: str  # the last segment of the event-type URI
    topic: str
    model: type[BaseModel]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> vendor
    defaults: dict[str, Any] = field(default_factory=dict)


def _caep(name: str, topic: str, model: type[BaseModel], **aliases: str) -> Entry:
    return Entry(name, "caep", name, topic, model, _vendors(aliases))


def _risc(name: str, topic: str, model: type[BaseModel] = risc.RiscEvent) -> Entry:
    return Entry(name, "risc", name, topic, model)


def _vendors(aliases: dict[str, str]) -> dict[str, str]:
    """Keyword arguments name the vendor, values list its names: asgardeo="a b"."""
    return {alias: vendor for vendor, names in aliases.items() for alias in names.split()}


def _as(
    name: str,
    standard: str,
    uri_name: str,
    topic: str,
    model: type[BaseModel],
    defaults: dict[str, Any] | None = None,
    **aliases: str,
) -> Entry:
    return Entry(name, standard, uri_name, topic, model, _vendors(aliases), defaults or {})


def _own(name: str, topic: str, model: type[BaseModel], **aliases: str) -> Entry:
    return Entry(name, "sethub", name, topic, model, _vendors(aliases))


PASSWORD_UPDATE = {"credential_type": "password", "change_type": "update"}

BUILT_IN: tuple[Entry, ...] = (
    # CAEP 1.0
    _caep("session-revoked", "session", caep.SessionRevoked, asgardeo="sessionRevoked"),
    _caep("token-claims-change", "token", caep.TokenClaimsChange),
    _caep("credential-change", "credential", caep.CredentialChange),
    _caep("assurance-level-change", "risk", caep.AssuranceLevelChange),
    _caep("device-compliance-change", "risk", caep.DeviceComplianceChange),
    _caep("session-established", "session", caep.SessionEstablished, asgardeo="sessionEstablished"),
    _caep("session-presented", "session", caep.SessionPresented, asgardeo="sessionPresented"),
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
    _risc("recovery-information-changed", "account"),
    _risc("sessions-revoked", "session"),  # deprecated by RISC in favour of CAEP session-revoked
    # Identity lifecycle events, on a standard URI where one means the same thing
    _as(
        "login-succeeded",
        "caep",
        "session-established",
        "login",
        caep.SessionEstablished,
        logto="PostSignIn",
        cidaas="USER_LOGIN",
        loginradius="Login",
        asgardeo="loginSuccess",
    ),
    _own(
        "login-failed",
        "login",
        idn.LoginFailed,
        cidaas="USER_LOGIN_FAILURE",
        loginradius="LoginFailure",
        asgardeo="loginFailed",
    ),
    _as(
        "logout",
        "caep",
        "session-revoked",
        "login",
        caep.SessionRevoked,
        cidaas="LOGOUT",
        loginradius="Logout",
    ),
    _own(
        "registration-succeeded",
        "registration",
        idn.RegistrationEvent,
        logto="PostRegister",
        cidaas="USER_REGISTRATION",
        loginradius="Register",
        asgardeo="registrationSuccess",
    ),
    _own(
        "registration-failed",
        "registration",
        idn.RegistrationEvent,
        cidaas="USER_REGISTRATION_FAILURE",
        asgardeo="registrationFailed",
    ),
    _own(
        "user-created",
        "account",
        idn.IdentityEvent,
        logto="User.Created",
        cidaas="USER_CREATED",
        loginradius="CreateUser",
        asgardeo="userCreated",
    ),
    _own(
        "user-updated",
        "account",
        idn.IdentityEvent,
        logto="User.Data.Updated",
        cidaas="USER_MODIFIED",
        loginradius="UpdateProfile",
        asgardeo="userProfileUpdated",
    ),
    _as(
        "user-deleted",
        "risc",
        "account-purged",
        "account",
        risc.RiscEvent,
        logto="User.Deleted",
        cidaas="USER_DELETED",
        loginradius="DeleteAccount",
        asgardeo="userDeleted",
    ),
    _as(
        "user-enabled",
        "risc",
        "account-enabled",
        "account",
        risc.RiscEvent,
        cidaas="USER_ACTIVATED",
        asgardeo="userEnabled",
    ),
    _as(
        "user-disabled",
        "risc",
        "account-disabled",
        "account",
        risc.AccountDisabled,
        cidaas="USER_DEACTIVATED",
        asgardeo="userDisabled",
    ),
    _own(
        "user-locked",
        "account",
        idn.UserLocked,
        logto="Identifier.Lockout",
        cidaas="USER_LOCKED",
        asgardeo="userAccountLocked",
    ),
    _own(
        "user-unlocked",
        "account",
        idn.IdentityEvent,
        cidaas="USER_UNLOCKED",
        asgardeo="userAccountUnlocked",
    ),
    _own(
        "user-blocked",
        "account",
        idn.IdentityEvent,
        logto="User.SuspensionStatus.Updated",
        cidaas="USER_BLOCKED",
        loginradius="BlockAccount",
    ),
    _as(
        "password-changed",
        "caep",
        "credential-change",
        "credential",
        caep.CredentialChange,
        PASSWORD_UPDATE,
        cidaas="PASSWORD_CHANGED",
        loginradius="ChangePassword",
        asgardeo="credentialUpdated",
    ),
    _own(
        "password-reset-initiated",
        "credential",
        idn.IdentityEvent,
        cidaas="PASSWORD_RESET_INITIATED",
        loginradius="ForgotPassword",
    ),
    _as(
        "password-reset",
        "caep",
        "credential-change",
        "credential",
        caep.CredentialChange,
        PASSWORD_UPDATE,
        logto="PostResetPassword",
        cidaas="PASSWORD_RESET",
        loginradius="ResetPassword",
    ),
    _as(
        "email-changed",
        "risc",
        "identifier-changed",
        "account",
        risc.IdentifierChanged,
        cidaas="EMAIL_CHANGED",
        loginradius="AddEmail",
    ),
    _own(
        "email-verified",
        "account",
        idn.IdentityEvent,
        cidaas="EMAIL_VERIFIED",
        loginradius="emailVerification",
    ),
    _as(
        "phone-changed",
        "risc",
        "identifier-changed",
        "account",
        risc.IdentifierChanged,
        cidaas="MOBILE_NUMBER_CHANGED",
        loginradius="UpdatePhone",
    ),
    _own(
        "phone-verified",
        "account",
        idn.IdentityEvent,
        cidaas="MOBILE_NUMBER_VERIFIED",
        loginradius="PhoneVerification",
    ),
    _as(
        "mfa-enrolled",
        "caep",
        "credential-change",
        "credential",
        caep.CredentialChange,
        {"change_type": "create"},
        cidaas="MFA_ENROLLED",
        loginradius="MFAEnabled",
    ),
    _as(
        "mfa-removed",
        "caep",
        "credential-change",
        "credential",
        caep.CredentialChange,
        {"change_type": "delete"},
        cidaas="MFA_REMOVED",
        loginradius="MFADisabled",
    ),
    _own("mfa-verified", "credential", idn.MfaEvent, cidaas="MFA_VERIFIED"),
    _own("mfa-failed", "credential", idn.MfaEvent, cidaas="MFA_FAILED"),
    _own(
        "role-assigned",
        "authorization",
        idn.RoleEvent,
        cidaas="ROLE_ASSIGNED",
        loginradius="AssignRoles",
    ),
    _own(
        "role-unassigned",
        "authorization",
        idn.RoleEvent,
        cidaas="ROLE_UNASSIGNED",
        loginradius="UnassignRoles",
    ),
    _own("group-member-added", "authorization", idn.MembershipEvent, cidaas="GROUP_USER_ADDED"),
    _own("group-member-removed", "authorization", idn.MembershipEvent, cidaas="GROUP_USER_REMOVED"),
    _own(
        "identity-linked",
        "account",
        idn.IdentityLinkEvent,
        cidaas="LINK_ACCOUNT",
        loginradius="LinkAccount",
    ),
    _own(
        "identity-unlinked",
        "account",
        idn.IdentityLinkEvent,
        cidaas="UNLINK_ACCOUNT",
        loginradius="UnlinkAccount",
    ),
    _own(
        "access-token-issued",
        "token",
        idn.AccessTokenEvent,
        cidaas="ACCESS_TOKEN_ISSUED",
        asgardeo="accessTokenIssued",
    ),
    _own(
        "access-token-revoked",
        "token",
        idn.AccessTokenEvent,
        cidaas="ACCESS_TOKEN_REVOKED",
        asgardeo="accessTokenRevoked",
    ),
)
