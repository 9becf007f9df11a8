"""Vendor webhooks in at /ingest/NAME, exactly as each identity provider sends them; verified
SETs out at real subscribers (issue 16). Payload samples: vendor_samples.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

import pytest

from . import vendor_samples as samples
from .support import RunningHub, Subscriber, until
from .test_identity_events import CAEP, hub_jwks, jwcrypto_claims, subscribed

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OWN = "urn:sethub:event-type:"
LOGTO_KEY = "lt-signing-key-from-the-console"
LR_SECRET = "lr-api-secret"


def logto_headers(body: bytes, key: str = LOGTO_KEY) -> dict[str, str]:
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {"logto-signature-sha-256": digest}


async def received(hub: RunningHub, subscriber: Subscriber, count: int) -> list[dict[str, Any]]:
    """The claims of the first `count` SETs, each verified against the hub's JWKS."""
    await until(lambda: len(subscriber.deliveries) >= count)
    jwks = await hub_jwks(hub)
    return [jwcrypto_claims(d.body.decode(), jwks) for d in subscriber.deliveries[:count]]


async def stored_events(hub: RunningHub) -> int:
    row = await hub.store.db.read(lambda conn: conn.execute("SELECT COUNT(*) FROM events")
                                  .fetchone())
    return int(row[0])


async def test_logto_sign_in_suspension_and_reactivation(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    await hub.add_source("logto", "logto", LOGTO_KEY)
    sessions, accounts = await make_subscriber(), await make_subscriber()
    await subscribed(hub, sessions, "session")
    await subscribed(hub, accounts, "account")
    body = samples.raw(samples.LOGTO_POST_SIGN_IN)
    status, answer = await hub.ingest("logto", body, logto_headers(body))
    assert status == 202 and answer["unmapped"] == [], answer
    (signed_in,) = await received(hub, sessions, 1)
    assert signed_in["events"] == {CAEP + "session-established": {
        "initiating_entity": "user", "event_timestamp": 1795514400}}
    assert signed_in["toe"] == 1795514400
    assert signed_in["sub_id"] == {"format": "aliases", "identifiers": [
        {"format": "opaque", "id": "lt-user-1"},
        {"format": "email", "email": "jane@example.com"},
        {"format": "phone_number", "phone_number": "+4915112345678"}]}
    for suspended, at in ((True, "2026-11-24T10:05:00Z"), (False, "2026-11-24T10:06:00Z")):
        body = samples.raw(samples.logto_suspension(suspended, at))
        status, _ = await hub.ingest("logto", body, logto_headers(body))
        assert status == 202
    disabled, enabled = await received(hub, accounts, 2)
    assert list(disabled["events"]) == [RISC + "account-disabled"]
    assert list(enabled["events"]) == [RISC + "account-enabled"]  # a reactivation, not a block
    assert enabled["sub_id"]["identifiers"][0] == {"format": "opaque", "id": "lt-user-1"}


async def test_logto_lockout_deleted_user_and_an_issuer(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await hub.add_source("lt", "logto", LOGTO_KEY, issuer="https://tenant.logto.app/oidc")
    await subscribed(hub, subscriber, "account")
    for document in (samples.LOGTO_LOCKOUT, samples.LOGTO_USER_DELETED):
        body = samples.raw(document)
        status, answer = await hub.ingest("lt", body, logto_headers(body))
        assert status == 202, answer
    locked, deleted = await received(hub, subscriber, 2)
    assert list(locked["events"]) == [OWN + "user-locked"]
    assert locked["sub_id"] == {"format": "email", "email": "jane@example.com"}
    assert list(deleted["events"]) == [RISC + "account-purged"]
    assert deleted["sub_id"] == {"format": "iss_sub", "iss": "https://tenant.logto.app/oidc",
                                 "sub": "lt-user-1"}


async def test_logto_retry_is_one_set_but_hook_id_is_not_an_event_id(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await hub.add_source("logto", "logto", LOGTO_KEY)
    await subscribed(hub, subscriber, "account")
    first = samples.raw(samples.logto_suspension(True, "2026-11-24T10:05:00Z"))
    for _ in range(2):  # Logto retrying one delivery sends the same bytes again
        assert (await hub.ingest("logto", first, logto_headers(first)))[0] == 202
    # Another event from the same webhook (same hookId) is another event.
    second = samples.raw(samples.logto_suspension(False, "2026-11-24T10:07:00Z"))
    assert (await hub.ingest("logto", second, logto_headers(second)))[0] == 202
    await until(lambda: len(subscriber.deliveries) == 2)
    assert await stored_events(hub) == 2


async def test_loginradius_login_and_block_account_by_its_flags(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    await hub.add_source("lr", "loginradius", LR_SECRET)
    sessions, accounts = await make_subscriber(), await make_subscriber()
    await subscribed(hub, sessions, "session")
    await subscribed(hub, accounts, "account")

    async def send(document: dict[str, Any], encoding: str = "hex") -> int:
        body = samples.raw(document)
        mac = hmac.new(LR_SECRET.encode(), body, hashlib.sha256).digest()
        signature = mac.hex().upper() if encoding == "hex" else base64.b64encode(mac).decode()
        status, answer = await hub.ingest("lr", body, {"signature": signature})
        assert answer.get("unmapped") in (None, []), answer
        return status

    assert await send(samples.loginradius("login", "2018-07-31T09:03:18Z")) == 202
    (login,) = await received(hub, sessions, 1)
    assert list(login["events"]) == [CAEP + "session-established"]
    assert login["sub_id"] == {"format": "aliases", "identifiers": [
        {"format": "opaque", "id": "lr-8061d1243297"},
        {"format": "email", "email": "jane@example.com"}]}
    flags = ({"IsLoginLocked": True, "LoginLockedType": "Suspend"}, {"IsActive": False}, {})
    for n, profile in enumerate(flags):
        document = samples.loginradius("BlockAccount", f"2026-11-24T10:0{n}:00Z", **profile)
        assert await send(document, "base64" if n else "hex") == 202
    locked, blocked, usable = await received(hub, accounts, 3)
    assert list(locked["events"]) == [OWN + "user-locked"]
    assert list(blocked["events"]) == [RISC + "account-disabled"]
    assert list(usable["events"]) == [RISC + "account-enabled"]


async def test_cidaas_api_key_in_a_header_or_the_query(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await hub.add_source("cd", "cidaas", "cd-key")
    await hub.add_source("cdq", "cidaas", "cdq-key", key_in="query", key_name="apikey")
    await subscribed(hub, subscriber, "account")
    body = samples.raw(samples.CIDAAS_ACCOUNT_MODIFIED)
    assert (await hub.ingest("cd", body, {"api-key": "cd-key"}))[0] == 202
    assert (await hub.ingest("cdq", body, query="?apikey=cdq-key"))[0] == 202
    assert (await hub.ingest("cdq", body, {"apikey": "cdq-key"}))[0] == 401  # not in the query
    first, second = await received(hub, subscriber, 2)
    for claims in (first, second):
        assert list(claims["events"]) == [OWN + "user-updated"]
        assert claims["sub_id"]["identifiers"][0] == {"format": "opaque", "id": "cd-7f3a"}
        assert claims["toe"] == 1795514400


async def test_asgardeo_verification_sessions_credentials_and_replays(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    await hub.add_source("asg", "asgardeo", "asg-secret")
    url = f"{hub.settings.base_url}/ingest/asg"
    query = {"hub.mode": "subscribe", "hub.topic": "https://api.asgardeo.io/t/myorg/x",
             "hub.challenge": "c-42", "hub.lease_seconds": "864000"}
    async with hub.session.get(url, params=query) as response:
        assert response.status == 200 and await response.text() == "c-42"
    sessions, credentials = await make_subscriber(), await make_subscriber()
    await subscribed(hub, sessions, "session")
    await subscribed(hub, credentials, "credential")

    async def send(document: dict[str, Any]) -> tuple[int, Any]:
        body = samples.raw(document)
        mac = hmac.new(b"asg-secret", body, hashlib.sha256).hexdigest()
        return await hub.ingest("asg", body, {"X-Hub-Signature": f"sha256={mac}"})

    assert (await send(samples.ASGARDEO_SESSION_REVOKED))[0] == 202
    assert (await send(samples.ASGARDEO_SESSION_REVOKED))[0] == 202  # the same jti again
    assert (await send(samples.ASGARDEO_CREDENTIAL_UPDATED))[0] == 202
    first, second = await received(hub, sessions, 2)
    user = {"format": "opaque", "id": "1801d35e-1339-4c16-9c53-61321cf37fb9"}
    assert [c["sub_id"] for c in (first, second)] == [
        {"format": "complex", "user": user, "session": {"format": "opaque", "id": session}}
        for session in ("68d1f2861461c69d8e821d91839bbf8e23ef04fb96c1ac655f452d94d1fd6e4d",
                        "second-session-of-peter")]
    assert first["events"] == {CAEP + "session-revoked": {
        "event_timestamp": 1755541966, "reason_admin": {"en": "Session revoked"}}}
    assert first["txn"] == second["txn"]
    (changed,) = await received(hub, credentials, 1)
    assert changed["toe"] == 1751566637  # the vendor's milliseconds, as seconds
    assert changed["events"] == {CAEP + "credential-change": {
        "credential_type": "password", "change_type": "update", "initiating_entity": "admin",
        "event_timestamp": 1751566637, "reason_admin": {"en": "Password changed"}}}
    await until(lambda: len(sessions.deliveries) == 2 and len(credentials.deliveries) == 1)
    assert await stored_events(hub) == 3  # the replayed sessionRevoked stored nothing new


async def test_asgardeo_login_failed_names_the_user_by_email(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await hub.add_source("asg", "asgardeo", "asg-secret")
    await subscribed(hub, subscriber, "login")
    body = samples.raw(samples.ASGARDEO_LOGIN_FAILED)
    mac = hmac.new(b"asg-secret", body, hashlib.sha256).hexdigest()
    assert (await hub.ingest("asg", body, {"X-Hub-Signature": f"sha256={mac}"}))[0] == 202
    (failed,) = await received(hub, subscriber, 1)
    assert failed["sub_id"] == {"format": "email", "email": "johndoe@aol.com"}
    assert failed["events"] == {OWN + "login-failed": {
        "application": "Test App", "tenant": "myorg", "authenticator": "BasicAuthenticator",
        "reason": "User authentication failed due to invalid credentials"}}


@pytest.mark.parametrize(
    ("vendor", "secret", "headers"),
    [
        ("logto", LOGTO_KEY, {"logto-signature-sha-256": "00" * 32}),
        ("logto", LOGTO_KEY, {}),
        ("loginradius", LR_SECRET, {"signature": "not a signature"}),
        ("cidaas", "cd-key", {"api-key": "cd-key-but-wrong"}),
        ("asgardeo", "asg", {"X-Hub-Signature": "sha256=" + "ab" * 32}),
        ("asgardeo", "asg", {"X-Hub-Signature": "md5=abcd"}),
    ],
)
async def test_bad_signature_is_401_and_stores_nothing(
    hub: RunningHub, vendor: str, secret: str, headers: dict[str, str]
) -> None:
    await hub.add_source("src", vendor, secret)
    status, error = await hub.ingest("src", samples.raw(samples.LOGTO_POST_SIGN_IN), headers)
    assert status == 401 and error["error"] == "bad_signature", error
    assert await stored_events(hub) == 0


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"hookId": "h", "createdAt": "2026-11-24T10:00:00Z"}, "event"),
        ({"event": "User.SuspensionStatus.Updated", "data": {"id": "u"}}, "data.isSuspended"),
        ({"event": "PostSignIn", "createdAt": "yesterday", "userId": "u"}, "createdAt"),
        ({"event": "PostSignIn"}, "userId"),
    ],
)
async def test_malformed_logto_webhook_is_400_naming_the_field(
    hub: RunningHub, document: dict[str, Any], field: str
) -> None:
    await hub.add_source("logto", "logto", LOGTO_KEY)
    body = samples.raw(document)
    status, error = await hub.ingest("logto", body, logto_headers(body))
    assert status == 400 and error["message"].startswith(f"{field}:"), error
    assert await stored_events(hub) == 0


async def test_malformed_block_account_and_json(hub: RunningHub) -> None:
    await hub.add_source("lr", "loginradius", LR_SECRET)
    for body, field in ((samples.raw(samples.loginradius("BlockAccount", "2026-11-24T10:00:00Z",
                                                         IsActive=None)), "Data.IsActive"),
                        (b"{not json", "body")):
        mac = hmac.new(LR_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, error = await hub.ingest("lr", body, {"signature": mac})
        assert status == 400 and error["message"].startswith(f"{field}:"), error


async def test_unmapped_events_are_acknowledged_counted_and_logged_once(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    await hub.add_source("logto", "logto", LOGTO_KEY)
    await hub.add_source("asg", "asgardeo", "asg-secret")
    caplog.set_level(logging.WARNING, logger="sethub.ingest")
    body = samples.raw(samples.LOGTO_ROLE_CREATED)
    for _ in range(3):
        status, answer = await hub.ingest("logto", body, logto_headers(body))
        assert status == 202 and answer == {"events": [], "unmapped": ["Role.Created"]}
    body = samples.raw(samples.ASGARDEO_ROLE_USERS_UPDATED)
    mac = hmac.new(b"asg-secret", body, hashlib.sha256).hexdigest()
    status, _ = await hub.ingest("asg", body, {"X-Hub-Signature": f"sha256={mac}"})
    assert status == 202
    async with hub.session.get(f"{hub.settings.base_url}/metrics") as response:
        metrics = await response.text()
    assert 'sethub_ingest_unmapped_total{event="Role.Created",vendor="logto"} 3.0' in metrics
    assert "roleUsersUpdated" in metrics
    logged = [r for r in caplog.records if "Role.Created" in r.getMessage()]
    assert len(logged) == 1
    assert await stored_events(hub) == 0


async def test_unknown_source_is_404(hub: RunningHub) -> None:
    status, error = await hub.ingest("nobody", b"{}")
    assert status == 404 and error["error"] == "not_found"
