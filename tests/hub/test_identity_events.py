"""Identity events published with POST /events arrive as signed SETs, one per subscription."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from hub.intake.auth import create_token
from hub.store import DeliveryState

from .process import running_processes
from .support import RunningHub, Subscriber, until

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
LOGIN_FAILED = {
    "type": "USER_LOGIN_FAILURE",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password", "ip_address": "192.0.2.7"},
    "occurred_at": "2026-11-24T10:00:00Z",
    "txn": "txn-1",
}


async def post_events(hub: RunningHub, body: Any, *, token: str | None = "default",
                      headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {hub.token if token == 'default' else token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers.setdefault("Content-Type", "application/json")
    async with hub.session.post(f"{hub.settings.base_url}/events", data=data,
                                headers=all_headers) as response:
        return response.status, await response.json(), response


async def subscribed(hub: RunningHub, sub: Subscriber, topic: str = "login", *,
                     token: str | None = "default", **params: str) -> str:
    url = hub.topic_url(topic)
    status, text = await hub.subscribe(url, sub.callback, token=token, **params)
    assert status == 202, text
    await until(lambda: hub.store.subscriptions.get(topic=url, callback=sub.callback))
    return url


async def hub_jwks(hub: RunningHub) -> dict[str, Any]:
    async with hub.session.get(f"{hub.settings.base_url}/.well-known/jwks.json") as response:
        assert response.status == 200
        return await response.json()


def jwcrypto_claims(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    verified = jwcrypto_jwt.JWT(jwt=token, key=keyset, algs=["RS256", "ES256", "PS256", "EdDSA"],
                                expected_type="JWS", check_claims={"jti": None})
    return json.loads(verified.claims)


async def test_end_to_end_set_verifies_under_jwcrypto_with_exact_claims(
    make_hub_each: Callable[..., Any], subscriber: Subscriber
) -> None:
    hub = await make_hub_each()
    await subscribed(hub, subscriber)
    before = int(time.time())
    status, answer, _ = await post_events(hub, LOGIN_FAILED)
    assert status == 202
    (entry,) = answer["events"]
    assert entry["topic"] == hub.topic_url("login") and entry["subscriptions"] == 1
    assert entry["txn"] == "txn-1"
    await until(lambda: subscriber.deliveries)
    delivery = subscriber.deliveries[0]
    assert delivery.headers["Content-Type"] == "application/secevent+jwt"
    assert delivery.headers["Accept"] == "application/json"
    assert delivery.link == [
        f'<{hub.url}>; rel="hub", <{hub.topic_url("login")}>; rel="self"'
    ]
    token = delivery.body.decode()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt" and header["alg"] == "RS256"
    jwks = await hub_jwks(hub)
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims = jwcrypto_claims(token, jwks)
    assert set(claims) == {"iss", "iat", "jti", "aud", "txn", "toe", "sub_id", "events"}
    assert claims["iss"] == hub.settings.base_url
    assert claims["aud"] == subscriber.callback.rsplit("/", 1)[0]  # the callback's origin
    assert claims["txn"] == "txn-1"
    assert claims["toe"] == 1795514400
    assert before <= claims["iat"] <= time.time() + 1
    assert claims["sub_id"] == {"format": "email", "email": "jane@example.com"}
    assert claims["events"] == {
        "urn:sethub:event-type:login-failed": {"reason": "bad password", "ip_address": "192.0.2.7"}
    }


async def test_two_audiences_get_own_aud_and_jti_and_share_txn(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    first, second = await make_subscriber(), await make_subscriber()
    token = await create_token(hub.store, scope="subscribe:login", label=None, now=time.time(),
                               audiences=["https://siem.example", "https://crm.example"])
    await subscribed(hub, first, token=token, **{"sethub.audience": "https://siem.example"})
    await subscribed(hub, second, token=token, **{"sethub.audience": "https://crm.example"})
    status, answer, _ = await post_events(hub, {**LOGIN_FAILED, "txn": "shared"})
    assert status == 202 and answer["events"][0]["subscriptions"] == 2
    await until(lambda: first.deliveries and second.deliveries)
    a = jwt.decode(first.deliveries[0].body, options={"verify_signature": False})
    b = jwt.decode(second.deliveries[0].body, options={"verify_signature": False})
    assert (a["aud"], b["aud"]) == ("https://siem.example", "https://crm.example")
    assert a["jti"] != b["jti"]
    assert a["txn"] == b["txn"] == "shared"


async def test_event_filter_and_standard_uri_mapping(
    hub: RunningHub, make_subscriber: Callable[..., Any]
) -> None:
    only_password = await make_subscriber()
    everything = await make_subscriber()
    await subscribed(hub, only_password, "credential", **{"sethub.events": "password-changed"})
    await subscribed(hub, everything, "credential")
    subject = {"format": "iss_sub", "iss": "https://idp.example/", "sub": "u1"}
    await post_events(hub, {"type": "mfa-failed", "subject": subject, "data": {"factor": "totp"}})
    await post_events(hub, {"type": "credentialUpdated", "subject": subject})
    await until(lambda: len(everything.deliveries) == 2)
    await until(lambda: only_password.deliveries)
    claims = jwt.decode(only_password.deliveries[0].body, options={"verify_signature": False})
    assert claims["events"] == {CAEP + "credential-change": {
        "credential_type": "password", "change_type": "update",
        "reason_admin": {"en": "Password changed"}}}
    assert len(only_password.deliveries) == 1


async def test_idempotent_publish_by_event_id_and_by_header(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await subscribed(hub, subscriber)
    first = await post_events(hub, {**LOGIN_FAILED, "id": "evt-1"})
    again = await post_events(hub, {**LOGIN_FAILED, "id": "evt-1"})
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert again[2].headers["Idempotent-Replayed"] == "true"
    key = {"Idempotency-Key": "batch-7"}
    batch = [{**LOGIN_FAILED, "txn": "b1"}, {**LOGIN_FAILED, "txn": "b2"}]
    one = await post_events(hub, batch, headers=key)
    two = await post_events(hub, batch, headers=key)
    assert one[1] == two[1] and len(one[1]["events"]) == 2
    await until(lambda: len(subscriber.deliveries) >= 3)
    await until(lambda: _all_settled(hub))
    assert len(subscriber.deliveries) == 3  # one event + a batch of two, nothing twice


async def _all_settled(hub: RunningHub) -> bool:
    return (await hub.store.deliveries.counts())["pending"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        ({"type": "no-such-event", "subject": LOGIN_FAILED["subject"]}, "type"),
        ({"type": "credential-change", "subject": LOGIN_FAILED["subject"],
          "data": {"credential_type": "password"}}, "data.change_type"),
        ({"type": "credential-change", "subject": LOGIN_FAILED["subject"],
          "data": {"credential_type": "carrier-pigeon", "change_type": "create"}},
         "data.credential_type"),
        ({**LOGIN_FAILED, "subject": {"format": "email", "email": "not-an-email"}}, "subject"),
        ({**LOGIN_FAILED, "subject": {"format": "phone_number", "phone_number": "555"}},
         "subject"),
        ({"subject": LOGIN_FAILED["subject"]}, "type"),
        ({**LOGIN_FAILED, "occurred_at": "yesterday"}, "occurred_at"),
        ({**LOGIN_FAILED, "unexpected": 1}, "unexpected"),
        ([LOGIN_FAILED] * 101, "body"),
        ([], "body"),
        ([LOGIN_FAILED, {**LOGIN_FAILED, "type": "nope"}], "[1].type"),
    ],
)
async def test_bad_publishes_are_400_naming_the_field(
    hub: RunningHub, body: Any, field: str
) -> None:
    status, error, response = await post_events(hub, body)
    assert status == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert error["error"] == "invalid_event"
    assert error["message"].startswith(f"{field}:"), error
    assert (await hub.store.deliveries.counts()) == {
        "pending": 0, "delivered": 0, "dead": 0, "cancelled": 0
    }


async def test_body_too_large_is_refused(make_hub: Callable[..., Any]) -> None:
    hub = await make_hub(max_request_bytes=2000)
    status, error, _ = await post_events(hub, [LOGIN_FAILED] * 30)
    assert status == 413
    assert error["error"] == "payload_too_large"


async def test_401_and_403(hub: RunningHub) -> None:
    status, error, response = await post_events(hub, LOGIN_FAILED, token=None)
    assert status == 401 and error["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    status, _, _ = await post_events(hub, LOGIN_FAILED, token="sethub_wrong")
    assert status == 401
    from hub.intake.auth import create_token

    narrow = await create_token(hub.store, scope="publish:account", label=None, now=time.time())
    status, error, _ = await post_events(hub, LOGIN_FAILED, token=narrow)
    assert status == 403 and "login" in error["message"]
    user_deleted = {"type": "User.Deleted", "subject": LOGIN_FAILED["subject"]}
    status, _, _ = await post_events(hub, user_deleted, token=narrow)
    assert status == 202


async def test_rfc8935_400_is_not_retried_but_503_is(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    hub = await make_hub(retry_schedule=[0.05, 0.05])
    rejecting = await make_subscriber(
        deliver_status=400,
        deliver_headers={"Content-Type": "application/json"},
        deliver_body=b'{"err":"invalid_audience","description":"not for us"}',
    )
    flaky = await make_subscriber(deliver_status=[503, 202])
    await subscribed(hub, rejecting)
    await subscribed(hub, flaky)
    await post_events(hub, LOGIN_FAILED)
    await until(lambda: len(flaky.deliveries) == 2)
    await until(lambda: _all_settled(hub))
    assert len(rejecting.deliveries) == 1
    rows = await hub.store.deliveries.listing(state=DeliveryState.DEAD)
    assert [(r["rejection"], r["attempts"]) for r in rows] == [("invalid_audience", 1)]
    assert flaky.deliveries[0].body == flaky.deliveries[1].body  # the retry resends the same SET


async def test_identity_topic_description_and_refusals(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    async with hub.session.get(hub.topic_url("session")) as response:
        assert response.status == 200
        assert f'<{hub.topic_url("session")}>; rel="self"' in response.headers["Link"]
        description = await response.json()
    assert description["content_type"] == "application/secevent+jwt"
    assert {e["uri"] for e in description["events"]} >= {CAEP + "session-revoked"}
    async with hub.session.get(f"{hub.settings.base_url}/topics") as response:
        kinds = {t["name"]: t["kind"] for t in (await response.json())["topics"]}
    assert kinds["login"] == "identity"
    status, text = await hub.subscribe(hub.topic_url("login"), subscriber.callback,
                                       **{"sethub.events": "login-failed,nope"})
    assert status == 400 and "nope" in text
    status, text = await hub.subscribe(hub.topic_url("login"), subscriber.callback,
                                       **{"sethub.events": "password-changed"})
    assert status == 400 and "not published on this topic" in text
    async with hub.session.post(hub.topic_url("login"), data=b"x", headers={
            "Authorization": f"Bearer {hub.token}"}) as response:
        assert response.status == 403


async def test_a_killed_signing_process_is_replaced(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    """A signing process killed from outside (the OOM killer, say) costs no delivery."""
    import os
    import signal

    from hub.appkeys import SIGNER

    await subscribed(hub, subscriber)
    assert (await post_events(hub, LOGIN_FAILED))[0] == 202
    await until(lambda: len(subscriber.deliveries) == 1)
    pool = hub.server.app[SIGNER]._pool
    killed = pool.pids
    assert killed
    for pid in killed:  # the pool's own processes, nothing else
        os.kill(pid, signal.SIGKILL)
    await until(lambda: not running_processes(killed), timeout=5)
    assert (await post_events(hub, {**LOGIN_FAILED, "txn": "txn-2"}))[0] == 202
    await until(lambda: len(subscriber.deliveries) == 2, timeout=10)
    token = subscriber.deliveries[1].body.decode()
    assert jwt.decode(token, options={"verify_signature": False})["txn"] == "txn-2"
    assert pool.pids and not set(pool.pids) & set(killed)


async def test_signing_processes_start_with_the_hub(hub: RunningHub) -> None:
    """The first SET after start-up does not wait for a process to be spawned."""
    from hub.appkeys import SIGNER

    signer = hub.server.app[SIGNER]
    await until(lambda: len(signer._pool.pids) == signer._workers, timeout=10)



async def test_a_set_signed_again_after_a_crash_mid_attempt_keeps_its_jti(
    tmp_path: Any, make_subscriber: Callable[..., Any]
) -> None:
    """The first attempt writes nothing before it is sent; if the hub stops before its outcome
    is stored, the next hub signs the SET again with the jti drawn when the delivery was stored,
    so the receiver can tell it is the same SET (RFC 8417 §2.2)."""
    from .support import start_hub, stop_hub

    receiver = await make_subscriber(delay=30)
    first = await start_hub(tmp_path, shutdown_timeout=0.2)
    try:
        await subscribed(first, receiver)
        assert (await post_events(first, LOGIN_FAILED))[0] == 202
        await until(lambda: receiver.deliveries)
    finally:
        await stop_hub(first)  # the attempt is cancelled: no outcome is stored
    receiver.delay = 0
    second = await start_hub(tmp_path, shutdown_timeout=0.2)
    try:
        await until(lambda: len(receiver.deliveries) == 2)
        await until(lambda: _all_settled(second))
    finally:
        await stop_hub(second)
    before, after = (jwt.decode(d.body, options={"verify_signature": False})
                     for d in receiver.deliveries)
    assert before["jti"] == after["jti"] and len(before["jti"]) == 32
    assert before["txn"] == after["txn"]
