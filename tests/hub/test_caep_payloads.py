"""CAEP payloads as CAEP 1.0 and its interoperability profile want them, and one topic per event
type whatever name it was published under.

Findings: interop D2, D3 and its §4 items 3-4; new-user walkthrough 17.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from .support import RunningHub, Subscriber, until
from .test_identity_events import CAEP, post_events, subscribed

USER = {"format": "opaque", "id": "u-1"}


def _events(delivery_body: bytes) -> dict[str, Any]:
    return jwt.decode(delivery_body, options={"verify_signature": False})["events"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"event_timestamp": 1615304991643}, "data.event_timestamp"),  # milliseconds
        ({"reason_admin": {}}, "data.reason_admin"),
        ({"reason_user": {}}, "data.reason_user"),
    ],
)
async def test_milliseconds_and_empty_reasons_are_refused(
    hub: RunningHub, data: dict[str, Any], field: str
) -> None:
    status, error, _ = await post_events(hub, {"type": "session-revoked", "subject": USER,
                                               "data": data})
    assert status == 400, error
    assert error["message"].startswith(f"{field}:")
    if field == "data.event_timestamp":
        assert "milliseconds" in error["message"]


async def test_occurred_at_sets_event_timestamp_and_reason_admin_has_a_default(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    await subscribed(hub, subscriber, "session")
    status, _, _ = await post_events(hub, {"type": "logout", "subject": USER,
                                           "occurred_at": "2026-11-24T10:00:00Z"})
    assert status == 202
    await until(lambda: subscriber.deliveries)
    claims = jwt.decode(subscriber.deliveries[0].body, options={"verify_signature": False})
    assert claims["toe"] == 1795514400
    assert claims["events"] == {CAEP + "session-revoked": {
        "event_timestamp": 1795514400, "reason_admin": {"en": "User logged out"}}}


async def test_logout_and_session_revoked_share_the_session_topic(
    hub: RunningHub, subscriber: Subscriber
) -> None:
    url = await subscribed(hub, subscriber, "session")
    for name in ("logout", "session-revoked", "LOGOUT", "login-succeeded", "PostSignIn"):
        status, answer, _ = await post_events(hub, {"type": name, "subject": USER})
        assert status == 202 and answer["events"][0]["topic"] == url, (name, answer)
    await until(lambda: len(subscriber.deliveries) == 5)


async def test_payload_dependent_vendor_names_are_refused_by_name(hub: RunningHub) -> None:
    for name, meaning in (("User.SuspensionStatus.Updated", "user-disabled or user-enabled"),
                          ("BlockAccount", "user-locked, user-disabled or user-enabled")):
        status, error, _ = await post_events(hub, {"type": name, "subject": USER})
        assert status == 400
        assert error["message"].startswith("type:") and meaning in error["message"]
        assert "/ingest/" in error["message"]


async def test_agreed_credential_types(
    make_hub: Callable[..., Any], make_subscriber: Callable[..., Any]
) -> None:
    event = {"type": "credential-change", "subject": USER,
             "data": {"credential_type": "email-otp", "change_type": "create"}}
    strict = await make_hub()
    status, error, _ = await post_events(strict, event)
    assert status == 400 and error["message"].startswith("data.credential_type:")
    agreed = await make_hub(agreed_credential_type=["email-otp"])
    receiver = await make_subscriber()
    await subscribed(agreed, receiver, "credential")
    status, _, _ = await post_events(agreed, event)
    assert status == 202
    await until(lambda: receiver.deliveries)
    assert _events(receiver.deliveries[0].body)[CAEP + "credential-change"][
        "credential_type"] == "email-otp"
