"""Event names each vendor documents, per documentation page, written out by hand from the pages
(see `set_tokens/events/_sources.py` for the addresses, and ../shared/findings/vendor-event-names.md
for the check of every name). Every vendor alias in the catalog must be in its page's list here.

Names a vendor documents but that describe configuration, not a user (roles, scopes, apps,
templates, ...), are listed too where the page lists them: the lists are what the pages say, not
what the catalog maps.
"""

from __future__ import annotations

WSO2 = "https://schemas.identity.wso2.org/events/"

DOCUMENTED: dict[str, frozenset[str]] = {
    # docs.logto.io "Webhooks events": user interaction and data mutation hooks.
    "logto-events": frozenset({
        "PostRegister", "PostSignIn", "PostResetPassword",
        "User.Created", "User.Deleted", "User.Data.Updated", "User.SuspensionStatus.Updated",
        "Role.Created", "Role.Deleted", "Role.Data.Updated", "Role.Scopes.Updated",
        "Scope.Created", "Scope.Deleted", "Scope.Data.Updated",
        "Organization.Created", "Organization.Deleted", "Organization.Data.Updated",
        "Organization.Membership.Updated",
        "OrganizationRole.Created", "OrganizationRole.Deleted", "OrganizationRole.Data.Updated",
        "OrganizationRole.Scopes.Updated",
        "OrganizationScope.Created", "OrganizationScope.Deleted",
        "OrganizationScope.Data.Updated",
    }),
    # docs.logto.io "Webhooks request", section "Exception hook events request body".
    "logto-request": frozenset({"Identifier.Lockout"}),
    # logto-io/logto packages/schemas/src/foundations/jsonb-types/hooks.ts (`hookEvents`).
    "logto-source": frozenset({"PostSignInAdaptiveMfaTriggered", "Message.RateLimited"}),
    # loginradius.com "Webhooks" overview: supported events and the sample-payload table.
    "loginradius-webhooks": frozenset({
        "Login", "Register", "UpdateProfile", "ResetPassword", "ChangePassword",
        "emailVerification", "AddEmail", "RemoveEmail", "BlockAccount", "DeleteAccount",
        "SetUsername", "AssignRoles", "UnassignRoles", "SetPassword", "LinkAccount",
        "UnlinkAccount", "UpdatePhoneId", "VerifyPhoneNumber", "UpdateCustomobject",
        "DeleteCustomObject", "CreateCustomObject", "InvalidateEmailVerification",
        "InvalidatePhoneVerification", "RemovePhoneId", "RemoveRoleContext", "SetPIN",
        "ResetPIN", "ChangePIN",
    }),
    # LoginRadius API docs, "APIs Associated With Webhook Events" (and the legacy overview's
    # allowed events, which add ConsentProfileUpdate and UpdateUID).
    "loginradius-api": frozenset({
        "Login", "Register", "UpdateProfile", "ResetPassword", "ChangePassword",
        "EmailVerification", "AddEmail", "RemoveEmail", "BlockAccount", "DeleteAccount",
        "SetUsername", "AssignRoles", "UnassignRoles", "SetPassword", "LinkAccount",
        "UnlinkAccount", "UpdatePhoneId", "VerifyPhoneNumber", "UpdateCustomobject",
        "DeleteCustomObject", "CreateCustomObject", "InvalidateEmailVerification",
        "InvalidatePhoneVerification", "RemovePhoneId", "RemoveRoleContext",
        "ConsentProfileUpdate", "UpdateUID", "SetPIN", "ResetPIN", "ChangePIN",
    }),
    # cidaas admin guide "Webhook Settings", table "Available webhook events" (merged cells of
    # the page split again: COMBINED + LOGOUT + TOKEN_CHECKED, INVITE_USER + RE_INVITE_USER, ...).
    "cidaas-settings": frozenset({
        "USER_LOGIN", "USER_LOGIN_FAILURE", "USER_CREATED", "USER_MODIFIED", "USER_DELETED",
        "USER_ENABLED", "USER_DISABLED", "USER_EMAIL_VERIFIED", "USER_MOBILE_NO_VERIFIED",
        "USER_IDENTITY_ADDED", "USER_IDENTITY_REMOVED", "USER_PASSWORD_CHANGED",
        "EMAIL_CHANGED", "USER_PASSWORD_RESET_INITIATE", "USER_PASSWORD_RESET", "USER_BLOCKED",
        "COMBINED", "LOGOUT", "TOKEN_CHECKED", "TOKEN_RENEWED", "CODE_OBTAINED",
        "ACCESS_TOKEN_OBTAINED", "APP_CREATED", "APP_MODIFIED", "APP_DELETED", "ROLE_CREATED",
        "ROLE_UPDATED", "ROLE_DELETED", "GROUP_NEW_USER_ADDED", "INVITE_USER", "RE_INVITE_USER",
        "INVITE_ACCEPTED", "INVITE_REVOKED", "USER_CREATED_WITH_INVITE", "GROUP_USER_ROLE_UPDATED",
        "GROUP_USER_REMOVED", "TENANT_CREATED", "PROFILE_IMAGE_UPDATED", "PROFILE_IMAGE_REMOVED",
        "MFA_REQUIRED", "MFA_INITIATED", "MFA_RE_INITIATED", "MFA_VERIFIED",
    }),
    # cidaas "Interactive Webhook Events Table" and the webhook API's accepted codes.
    "cidaas-table": frozenset({
        "LOGIN_WITH_CIDAAS", "LOGIN_WITH_SOCIAL", "LOGIN_FAILURE", "LOGOUT",
        "ACCOUNT_CREATED_WITH_CIDAAS_IDENTITY", "ACCOUNT_CREATED_WITH_SOCIAL_IDENTITY",
        "ACCOUNT_MODIFIED", "ACCOUNT_DELETED", "ACCOUNT_DELETION_SCHEDULED", "ACCOUNT_ACTIVATED",
        "ACCOUNT_DEACTIVATED", "ACCOUNT_LOCKED", "ACCOUNT_EMAIL_VERIFIED",
        "ACCOUNT_EMAIL_UNVERIFIED", "ACCOUNT_MOBILE_NO_VERIFIED", "ACCOUNT_MOBILE_NO_UNVERIFIED",
        "ACCOUNT_SOCIALIDENTITY_ADDED", "ACCOUNT_CIDAASIDENTITY_ADDED",
        "ACCOUNT_SOCIALIDENTITY_REMOVED", "ACCOUNT_CIDAASIDENTITY_REMOVED", "PASSWORD_CHANGED",
        "PASSWORD_RESET", "PASSWORD_RESET_INITIATE", "EMAIL_CHANGED", "ACCESS_TOKEN_OBTAINED",
        "GROUP_NEW_USER_ADDED", "GROUP_USER_REMOVED", "GROUP_USER_ROLE_ADDED",
        "GROUP_USER_ROLE_REMOVED", "GROUP_USER_ROLE_UPDATED", "GROUP_ADMIN_ADDED",
        "GROUP_FIRST_ADMIN_ADDED", "MFA_REQUIRED", "INVITE_ACCEPTED", "CONSENT_ACCEPTED",
        "CONSENT_REJECTED", "PROFILE_IMAGE_UPDATED", "PROFILE_IMAGE_REMOVED",
        "ACCOUNT_CONFLICT", "CODE_OBTAINED", "PHYSICAL_VERIFICATION",
    }),
    # Asgardeo "Webhook events and payloads": event name and its full URI.
    "asgardeo-events": frozenset({
        name
        for channel, names in {
            "login": ("loginSuccess", "loginFailed"),
            "registration": ("registrationSuccess", "registrationFailed"),
            "token": ("accessTokenIssued", "accessTokenRevoked"),
            "session": ("sessionEstablished", "sessionPresented", "sessionRevoked"),
            "credential": ("credentialUpdated",),
            "user": ("userCreated", "userProfileUpdated", "userDeleted", "userEnabled",
                     "userDisabled", "userAccountLocked", "userAccountUnlocked"),
        }.items()
        for event in names
        for name in (event, f"{WSO2}{channel}/event-type/{event}")
    }),
    # WSO2 Identity Platform variant of the same page: role and consent events.
    "wso2-events": frozenset({
        name
        for channel, event in (("consent", "consentAdded"), ("consent", "consentRevoked"),
                               ("role", "roleUsersUpdated"))
        for name in (event, f"{WSO2}{channel}/event-type/{event}")
    }),
}

# Names the catalog once carried that no vendor emits (findings: 28 invented names); each must
# stay unknown.
INVENTED = (
    "CreateUser", "ForgotPassword", "LoginFailure", "Logout", "MFAEnabled", "MFADisabled",
    "PhoneVerification", "UpdatePhone", "USER_REGISTRATION", "USER_REGISTRATION_FAILURE",
    "USER_ACTIVATED", "USER_DEACTIVATED", "USER_LOCKED", "USER_UNLOCKED",
    "PASSWORD_RESET_INITIATED", "EMAIL_VERIFIED", "MOBILE_NUMBER_CHANGED",
    "MOBILE_NUMBER_VERIFIED", "MFA_ENROLLED", "MFA_REMOVED", "MFA_FAILED", "ROLE_ASSIGNED",
    "ROLE_UNASSIGNED", "GROUP_USER_ADDED", "LINK_ACCOUNT", "UNLINK_ACCOUNT",
    "ACCESS_TOKEN_ISSUED", "ACCESS_TOKEN_REVOKED",
)

# The four wrong mappings the findings name, and what each must be now (None: no plain alias,
# the name depends on its payload and is refused by name).
CORRECTED = {
    "AddEmail": "recovery-information-changed",
    "BlockAccount": None,
    "User.SuspensionStatus.Updated": None,
    "EMAIL_CHANGED": "email-changed",
}
