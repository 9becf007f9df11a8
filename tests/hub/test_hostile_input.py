"""Generated hostile requests to `POST /hub`: never a 5xx, and the stored state stays consistent.

The hub and a real subscriber run on their own event loop in a thread; hypothesis drives plain
synchronous HTTP at them, thousands of requests per run.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import RunningHub, Subscriber, start_hub, start_subscriber, stop_hub

EXAMPLES = 6000  # with EVENT_EXAMPLES below: over 10,000 generated requests a run


@dataclass
class Target:
    hub: RunningHub
    subscriber: Subscriber
    topic: str
    loop: asyncio.AbstractEventLoop

    @property
    def db(self) -> Path:
        return self.hub.settings.db


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    hub = run(start_hub(tmp_path_factory.mktemp("hostile"), max_request_bytes=64 * 1024))
    subscriber = run(start_subscriber())
    run(hub.create_topic("news"))
    yield Target(hub, subscriber, hub.topic_url("news"), loop)
    run(stop_hub(hub))
    assert subscriber.server is not None
    run(subscriber.server.close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


PARAMS = [
    "hub.mode",
    "hub.topic",
    "hub.callback",
    "hub.lease_seconds",
    "hub.secret",
    "hub.url",
    "sethub.audience",
    "sethub.events",
    "foo",
]
MODES = st.sampled_from(
    ["subscribe", "unsubscribe", "publish", "denied", "", "SUBSCRIBE", "subscribe\x00", "pub lish"]
)
TEXT = st.text(max_size=300)
URLS = st.one_of(
    st.sampled_from(
        [
            "http://127.0.0.1:1/x",
            "ftp://x/",
            "http://",
            "http://[::1",
            "//x/y",
            "http://refused.invalid/t",
            "https://example.com/#frag",
            "javascript:x",
        ]
    ),
    TEXT,
)


@st.composite
def hub_forms(draw: st.DrawFn, target_topic: str, callback: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    if draw(st.booleans()):
        fields.append(("hub.mode", draw(MODES)))
    if draw(st.booleans()):
        fields.append(("hub.topic", draw(st.one_of(st.just(target_topic), URLS))))
    if draw(st.booleans()):
        fields.append(("hub.callback", draw(st.one_of(st.just(callback), URLS))))
    for name in draw(st.lists(st.sampled_from(PARAMS), max_size=6)):
        fields.append((name, draw(st.one_of(TEXT, st.integers().map(str)))))
    return fields


def post(target: Target, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", target.hub.settings.port, timeout=10)
    try:
        connection.request("POST", "/hub", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_hub_requests_never_5xx(target: Target, data: st.DataObject) -> None:
    form = data.draw(hub_forms(target.topic, target.subscriber.callback))
    raw = data.draw(st.booleans())
    body = data.draw(st.binary(max_size=500)) if raw else urlencode(form).encode()
    content_type = data.draw(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=latin-1",
                "text/plain",
                "application/json",
                "multipart/form-data; boundary=x",
                "",
            ]
        )
    )
    status, response_type, text = post(target, body, content_type)
    assert status < 500, (status, text)
    assert status in (202, 400, 401, 403, 404, 413, 415, 422, 429), (status, text)
    if status != 202:
        assert response_type.startswith("text/plain"), response_type
        assert text.strip(), "an error needs a reason"


def test_state_stays_consistent_after_the_storm(target: Target) -> None:
    """Every stored subscription was verified by its callback; no delivery without one.

    Storm requests aimed at unreachable callbacks may still be waiting for a verification retry;
    they can never produce a subscription. One known-good request goes last, and once it is
    stored the hub has processed everything verifiable before it.
    """
    form = {"hub.mode": "subscribe", "hub.topic": target.topic,
            "hub.callback": target.subscriber.callback + "?last=1"}
    status, _, _ = post(target, urlencode(form).encode(), "application/x-www-form-urlencoded")
    assert status == 202
    deadline = time.time() + 20
    while time.time() < deadline and not _rows(
        target, "SELECT 1 FROM subscriptions WHERE callback = ?", form["hub.callback"]
    ):
        time.sleep(0.05)
    subscriptions = _rows(target, "SELECT topic, callback FROM subscriptions")
    orphans = _rows(
        target,
        "SELECT d.id FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id "
        "WHERE s.id IS NULL AND d.state = 'pending'",
    )
    verified = {
        (v.get("hub.topic"), target.subscriber.callback + ("?last=1" if v.get("last") else ""))
        for v in target.subscriber.verifications if v.get("hub.mode") == "subscribe"
    }
    assert (target.topic, form["hub.callback"]) in subscriptions
    for topic, callback in subscriptions:
        assert (topic, callback) in verified
    assert orphans == []
    assert _rows(target, "PRAGMA integrity_check") == [("ok",)]


def _rows(target: Target, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{target.db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


EVENT_EXAMPLES = 4500
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
TYPES = st.sampled_from(["login-failed", "USER_LOGIN_FAILURE", "credential-change",
                         "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
                         "nope", "", "PostSignIn", "role-assigned"])
SUBJECTS = st.one_of(
    st.just({"format": "email", "email": "jane@example.com"}),
    st.just({"format": "opaque", "id": "u1"}),
    st.dictionaries(st.sampled_from(["format", "email", "id", "iss", "sub", "uri", "x"]),
                    st.text(max_size=20), max_size=3),
    JSON_VALUES,
)


@st.composite
def events(draw: st.DrawFn) -> object:
    event: dict[str, object] = {}
    for name, strategy in (("type", TYPES), ("subject", SUBJECTS), ("data", JSON_VALUES),
                           ("occurred_at", JSON_VALUES), ("txn", JSON_VALUES),
                           ("id", JSON_VALUES), ("extra", JSON_VALUES)):
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


def post_events(target: Target, body: bytes, token: str | None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", target.hub.settings.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/events", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


@settings(max_examples=EVENT_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_event_publishes_never_5xx(target: Target, data: st.DataObject) -> None:
    shape = data.draw(st.sampled_from(["event", "batch", "json", "bytes"]))
    if shape == "event":
        body = json.dumps(data.draw(events())).encode()
    elif shape == "batch":
        body = json.dumps(data.draw(st.lists(events(), max_size=5))).encode()
    elif shape == "json":
        body = json.dumps(data.draw(JSON_VALUES)).encode()
    else:
        body = data.draw(st.binary(max_size=300))
    token = data.draw(st.sampled_from([target.hub.token, None, "sethub_forged"]))
    status, content_type, text = post_events(target, body, token)
    assert status in (202, 400, 401, 403, 413, 429), (status, text)
    assert content_type.startswith("application/json")
    answer = json.loads(text)
    if status == 202:
        assert all(item["subscriptions"] >= 0 for item in answer["events"])
    else:
        assert answer["error"] and answer["message"]
