"""Webhook bodies as the identity providers send them, written out by hand from their pages.

- Logto: docs.logto.io/developers/webhooks/webhooks-request (the field tables of interaction,
  data mutation and exception hook bodies, with the UserEntity type); values are ours.
- LoginRadius: loginradius.com/docs/api/v2/integrations/webhooks, "WebHook Handling: Format"
  (HookName, Time, HookId, Data = the profile; the page's sample spells HookName "login"), and
  "Auth Security" for IsLoginLocked / LoginLockedType / IsActive.
- cidaas: the admin guide's "Webhook Request Body" {event_time, event_type, current_context,
  data}; what `data` holds is not shown on any page found (docs/bridges.md).
- Asgardeo: wso2.com/asgardeo/docs/guides/webhooks/webhook-events-and-payloads (the examples,
  with their ids; the second revoked session is ours, to show N sessions make N events).
"""

from __future__ import annotations

import json
from typing import Any

LOGTO_USER = {
    "id": "lt-user-1",
    "username": "jane",
    "primaryEmail": "jane@example.com",
    "primaryPhone": "4915112345678",
    "name": "Jane",
    "customData": {},
    "identities": {},
    "lastSignInAt": "2026-11-24T10:00:00.000Z",
    "createdAt": "2026-01-02T03:04:05.000Z",
    "applicationId": "lt-app-1",
    "isSuspended": False,
}
LOGTO_APPLICATION = {"id": "lt-app-1", "type": "SPA", "name": "Shop"}

LOGTO_POST_SIGN_IN: dict[str, Any] = {
    "hookId": "lt-hook-1",
    "event": "PostSignIn",
    "createdAt": "2026-11-24T10:00:00.000Z",
    "interactionEvent": "SignIn",
    "sessionId": "lt-session-1",
    "userAgent": "Mozilla/5.0",
    "userIp": "192.0.2.10",
    "userId": "lt-user-1",
    "user": LOGTO_USER,
    "applicationId": "lt-app-1",
    "application": LOGTO_APPLICATION,
}


def logto_suspension(suspended: bool, created_at: str) -> dict[str, Any]:
    """`PATCH /users/:userId/is-suspended` through the Management API."""
    return {
        "hookId": "lt-hook-1",
        "event": "User.SuspensionStatus.Updated",
        "createdAt": created_at,
        "userAgent": "curl/8.0",
        "ip": "192.0.2.20",
        "path": "/users/lt-user-1/is-suspended",
        "method": "PATCH",
        "status": 200,
        "params": {"userId": "lt-user-1"},
        "matchedRoute": "/users/:userId/is-suspended",
        "data": {**LOGTO_USER, "isSuspended": suspended},
    }


LOGTO_USER_DELETED: dict[str, Any] = {
    "hookId": "lt-hook-1",
    "event": "User.Deleted",
    "createdAt": "2026-11-24T11:00:00.000Z",
    "path": "/users/lt-user-1",
    "method": "DELETE",
    "status": 204,
    "params": {"userId": "lt-user-1"},
    "matchedRoute": "/users/:userId",
    "data": None,
}

LOGTO_LOCKOUT: dict[str, Any] = {
    "hookId": "lt-hook-2",
    "event": "Identifier.Lockout",
    "createdAt": "2026-11-24T12:00:00.000Z",
    "userAgent": "Mozilla/5.0",
    "ip": "192.0.2.30",
    "interactionEvent": "SignIn",
    "type": "email",
    "value": "jane@example.com",
}

LOGTO_ROLE_CREATED: dict[str, Any] = {
    "hookId": "lt-hook-1",
    "event": "Role.Created",
    "createdAt": "2026-11-24T13:00:00.000Z",
    "path": "/roles",
    "method": "POST",
    "status": 200,
    "data": {"id": "r1", "name": "auditor", "description": "", "type": "User",
             "isDefault": False},
}

LR_PROFILE: dict[str, Any] = {
    "Identities": [],
    "Password": "83c0f5559a7e7c1c9708b2fd9ebbe6c62f648b0e0202:XDSxj",
    "LastPasswordChangeDate": "2018-03-05T22:13:36.48263Z",
    "PasswordExpirationDate": "2019-07-31T09:03:12.298Z",
    "EmailVerified": True,
    "IsActive": True,
    "IsDeleted": False,
    "Uid": "lr-8061d1243297",
    "Email": [{"Type": "Primary", "Value": "jane@example.com"}],
    "PhoneId": None,
    "IsLoginLocked": False,
    "LoginLockedType": "None",
}


def loginradius(hook: str, time: str, **profile: Any) -> dict[str, Any]:
    return {"HookName": hook, "Time": time, "HookId": "50e5e5e5-1e1e-4e7e-9e9e-fc8e8e8e64eb",
            "Data": {**LR_PROFILE, **profile}}


CIDAAS_ACCOUNT_MODIFIED: dict[str, Any] = {
    "event_time": "2026-11-24T10:00:00Z",
    "event_type": "ACCOUNT_MODIFIED",
    "current_context": {"tenant_key": "acme"},
    "data": {"sub": "cd-7f3a", "email": "jane@example.com"},
}

_WSO2 = "https://schemas.identity.wso2.org/events/"
_ORG = {"id": "10084a8d-113f-4211-a0d5-efe36b082211", "name": "myorg", "orgHandle": "myorg",
        "depth": 0}
_PETER = {
    "id": "1801d35e-1339-4c16-9c53-61321cf37fb9",
    "claims": [{"uri": "http://wso2.org/claims/username", "value": "peter"}],
    "organization": _ORG,
    "ref": "https://api.asgardeo.io/t/myorg/scim2/Users/1801d35e-1339-4c16-9c53-61321cf37fb9",
}

ASGARDEO_SESSION_REVOKED: dict[str, Any] = {
    "iss": "https://api.asgardeo.io/t/myorg",
    "jti": "61503199-bdf7-4f44-8f50-60c78bf419ad",
    "iat": 1755541966644,
    "rci": "48eaeb32-76c0-4af8-b04e-9ce0c00cb61f",
    "events": {
        _WSO2 + "session/event-type/sessionRevoked": {
            "user": _PETER,
            "tenant": {"id": "12402", "name": "myorg"},
            "organization": _ORG,
            "userStore": {"id": "UFJJTUFSWQ==", "name": "PRIMARY"},
            "sessions": [
                {"id": "68d1f2861461c69d8e821d91839bbf8e23ef04fb96c1ac655f452d94d1fd6e4d",
                 "loginTime": 1755541961792,
                 "applications": [{"id": "eb395ddd-1280-46e9-98fb-810948c1dab4",
                                   "name": "Test App"}]},
                {"id": "second-session-of-peter", "loginTime": 1755541962000,
                 "applications": []},
            ],
        }
    },
}

ASGARDEO_CREDENTIAL_UPDATED: dict[str, Any] = {
    "iss": "https://api.asgardeo.io/t/myorg",
    "jti": "24fc890a-41c5-4397-9cc9-b9f48102384e",
    "iat": 1751566637663,
    "rci": "05268edb-9a87-4656-87c0-0fb674dd03b1",
    "events": {
        _WSO2 + "credential/event-type/credentialUpdated": {
            "initiatorType": "ADMIN",
            "initiatorIpAddress": "203.0.113.10",
            "user": {
                "id": "85071750-3d1f-4ba4-b58f-991532e2742b",
                "claims": [{"uri": "http://wso2.org/claims/emailaddress",
                            "value": "peter@aol.com"}],
                "organization": _ORG,
                "ref": "https://api.asgardeo.io/t/myorg/scim2/Users/85071750",
            },
            "tenant": {"id": "12402", "name": "myorg"},
            "organization": _ORG,
            "userStore": {"id": "UFJJTUFSWQ==", "name": "PRIMARY"},
            "credentialType": "PASSWORD",
            "action": "UPDATE",
        }
    },
}

ASGARDEO_LOGIN_FAILED: dict[str, Any] = {
    "iss": "https://api.asgardeo.io/t/myorg",
    "jti": "7ef94943-2004-4f72-b476-9baffe5623c7",
    "iat": 1751709144508,
    "rci": "05268edb-9a87-4656-87c0-0fb674dd03b1",
    "events": {
        _WSO2 + "login/event-type/loginFailed": {
            "user": {
                "claims": [
                    {"uri": "http://wso2.org/claims/username", "value": "johndoe@aol.com"},
                    {"uri": "http://wso2.org/claims/emailaddress", "value": "johndoe@aol.com"},
                ],
                "organization": _ORG,
            },
            "tenant": {"id": "12402", "name": "myorg"},
            "organization": _ORG,
            "application": {"id": "63d8a96f-ff87-4f38-a1d7-4d10ee470d9a", "name": "Test App"},
            "reason": {
                "description": "User authentication failed due to invalid credentials",
                "context": {"failedStep": {"step": 1, "idp": "LOCAL",
                                           "authenticator": "BasicAuthenticator"}},
            },
        }
    },
}

ASGARDEO_ROLE_USERS_UPDATED: dict[str, Any] = {
    "iss": "https://api.asgardeo.io/t/myorg",
    "jti": "0c6e2c55-2a43-4f0b-9d57-5f2a7c1e4e11",
    "iat": 1755619049121,
    "events": {_WSO2 + "role/event-type/roleUsersUpdated": {"role": {"id": "r1"}}},
}


def raw(document: dict[str, Any]) -> bytes:
    """The body bytes, as a vendor serialises them (the signature covers these exact bytes)."""
    return json.dumps(document).encode()
