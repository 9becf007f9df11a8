"""Inputs that answered 500, or were stored though nothing could use them: each is now a 4xx with
a plain reason, and nothing is stored. Also how topic bodies are served (L7) and how a topic
is echoed to its subscriber (D4).

One real hub (module-scoped, on a background loop) takes every case over one keep-alive
connection; each case checks the answer, that no error or traceback was logged, and that the
database did not change. Sources: security review L1, L2, L6, L7; code review issue 10; interop D4.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest

from hub.websub import normalize_url

from .live import Answer, LiveHub, live_hub
from .support import until

FORM = "application/x-www-form-urlencoded"
SURROGATE_UTF7 = "+2AA-"  # utf-7 for U+D800, a lone surrogate
NOT_UTF8 = b"\xff\xfe\xed\xa0\x80"
# An external topic prefix the hub accepts (nothing fetches it: subscribing does not).
EXTERNAL = "http://127.0.0.1:9/feeds/"
LOGIN_FAILED = {
    "type": "login-failed",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password"},
}
COUNTED = ("intents", "subscriptions", "topics", "events", "deliveries", "idempotency_keys")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    with live_hub(tmp_path_factory.mktemp("bad-input"), allow_topic=[EXTERNAL]) as running:
        yield running


def _counts(live: LiveHub) -> dict[str, int]:
    return {table: live.rows(f"SELECT count(*) FROM {table}")[0][0] for table in COUNTED}


def _refused(
    live: LiveHub, method: str, path: str, body: bytes, headers: dict[str, str | bytes]
) -> Answer:
    """Send one bad request: a 4xx with a reason, nothing logged, nothing stored."""
    before, logged = _counts(live), len(live.errors)
    answer = live.request(method, path, body, headers)
    assert 400 <= answer.status < 500, (answer.status, answer.text())
    assert answer.text().strip(), "a refusal needs a reason"
    assert live.errors[logged:] == []
    assert _counts(live) == before
    return answer


def _subscribe(live: LiveHub, **params: str) -> str:
    """A subscribe form; `+` and `-` stay as they are, for the utf-7 cases."""
    form = {
        "hub.mode": "subscribe",
        "hub.topic": live.hub.topic_url("news"),
        "hub.callback": live.subscriber.callback,
        **params,
    }
    return "&".join(f"{name}={quote(value, safe=':/+-')}" for name, value in form.items())


def _hub_cases(live: LiveHub) -> dict[str, tuple[bytes, dict[str, str | bytes]]]:
    utf7 = {"Content-Type": f"{FORM}; charset=utf-7"}
    form = {"Content-Type": FORM}
    publish = urlencode({"hub.mode": "publish", "hub.url": live.hub.topic_url("news")}).encode()
    return {
        "utf7-secret": (_subscribe(live, **{"hub.secret": SURROGATE_UTF7}).encode(), utf7),
        "utf7-audience": (
            _subscribe(
                live,
                **{"hub.topic": live.hub.topic_url("login"), "sethub.audience": SURROGATE_UTF7},
            ).encode(),
            utf7,
        ),
        "utf7-callback": (
            _subscribe(
                live, **{"hub.callback": live.subscriber.callback + SURROGATE_UTF7}
            ).encode(),
            utf7,
        ),
        # A topic the hub refuses is stored as a `denied` intent, with the spelling sent.
        "utf7-denied-topic": (
            _subscribe(live, **{"hub.topic": f"http://127.0.0.1:9/{SURROGATE_UTF7}"}).encode(),
            utf7,
        ),
        "utf7-publish": (
            f"hub.mode=publish&hub.url=http://127.0.0.1:9/{SURROGATE_UTF7}".encode(),
            utf7,
        ),
        "lease-2^63": (_subscribe(live, **{"hub.lease_seconds": str(2**63)}).encode(), form),
        "lease-29-digits": (_subscribe(live, **{"hub.lease_seconds": "9" * 29}).encode(), form),
        "lease-5000-digits": (
            _subscribe(live, **{"hub.lease_seconds": "9" * 5000}).encode(),
            form,
        ),
        "backslash-in-host": (
            _subscribe(live, **{"hub.callback": "http://127.0.0.1:9\\@127.0.0.1:10/"}).encode(),
            form,
        ),
        "publish-authorization-not-utf8": (
            publish,
            {**form, "Authorization": b"Bearer " + NOT_UTF8},
        ),
    }


HUB_CASES = [
    "utf7-secret",
    "utf7-audience",
    "utf7-callback",
    "utf7-denied-topic",
    "utf7-publish",
    "lease-2^63",
    "lease-29-digits",
    "lease-5000-digits",
    "backslash-in-host",
    "publish-authorization-not-utf8",
]


@pytest.mark.parametrize("case", HUB_CASES)
def test_hub_endpoint_refuses_with_a_plain_reason(live: LiveHub, case: str) -> None:
    body, headers = _hub_cases(live)[case]
    answer = _refused(live, "POST", "/hub", body, headers)
    assert answer.content_type.startswith("text/plain")


def test_reserved_escapes_in_a_topic_are_kept_as_sent(live: LiveHub) -> None:
    """Interop D4: the topic echoed in the verification GET is the subscriber's spelling; only
    unreserved escapes are decoded (WebSub 5.1.1)."""
    sent = f"{EXTERNAL}a%2fb%7Ec%3F"
    assert normalize_url(sent, parameter="hub.topic") == f"{EXTERNAL}a%2fb~c%3F"
    form = urlencode(
        {"hub.mode": "subscribe", "hub.topic": sent, "hub.callback": live.subscriber.callback}
    ).encode()
    answer = live.request("POST", "/hub", form, {"Content-Type": FORM})
    assert answer.status == 202, answer.text()
    live.run(
        until(
            lambda: live.hub.store.subscriptions.get(
                topic=f"{EXTERNAL}a%2fb~c%3F", callback=live.subscriber.callback
            )
        )
    )
    assert live.subscriber.verifications[-1]["hub.topic"] == f"{EXTERNAL}a%2fb~c%3F"
    assert live.rows("SELECT topic FROM subscriptions WHERE topic LIKE ?", f"{EXTERNAL}%") == [
        (f"{EXTERNAL}a%2fb~c%3F",)
    ]


def _event(**fields: object) -> bytes:
    return json.dumps({**LOGIN_FAILED, **fields}).encode()


def _raw_event(occurred_at: str) -> bytes:
    """JSON numbers json.dumps cannot write but json.loads reads: NaN, Infinity, 1e999."""
    return _event(occurred_at=0).replace(
        b'"occurred_at": 0', f'"occurred_at": {occurred_at}'.encode()
    )


DEPTH = 100_000
EVENT_CASES: dict[str, tuple[bytes, dict[str, bytes]]] = {
    "authorization-not-utf8": (_event(), {"Authorization": b"Bearer " + NOT_UTF8}),
    "nested-100000-arrays": (b"[" * DEPTH + b"]" * DEPTH, {}),
    "nested-100000-objects": (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, {}),
    "nested-in-data": (_event(data={"reason": "x"}).replace(b'"x"', b"[" * 40 + b"]" * 40), {}),
    "occurred-at-nan": (_raw_event("NaN"), {}),
    "occurred-at-infinity": (_raw_event("Infinity"), {}),
    "occurred-at-minus-infinity": (_raw_event("-Infinity"), {}),
    "occurred-at-1e999": (_raw_event("1e999"), {}),
    "occurred-at-1e300": (_raw_event("1e300"), {}),
    "occurred-at-after-9999": (_raw_event("253402300800"), {}),
    "occurred-at-negative": (_raw_event("-1"), {}),
    "occurred-at-before-1970": (_event(occurred_at="1969-12-31T23:59:59Z"), {}),
    "occurred-at-year-1": (_event(occurred_at="0001-01-01T00:00:00+23:59"), {}),
    "surrogate-txn": (_event(txn="\ud800"), {}),
    "surrogate-id": (_event(id="ok\udfff"), {}),
    "surrogate-subject": (_event(subject={"format": "opaque", "id": "\ud800"}), {}),
    "surrogate-data": (_event(data={"reason": "\udbff"}), {}),
    "surrogate-member-name": (_event(data={"\ud800": "x"}), {}),
    "surrogate-raw-bytes": (_event(txn="x").replace(b'"x"', b'"\xed\xa0\x80"'), {}),
    "not-utf8": (_event(txn="x").replace(b'"x"', b'"\xff"'), {}),
    "idempotency-key-not-utf8": (_event(), {"Idempotency-Key": NOT_UTF8}),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
def test_events_refuses_with_a_json_reason(live: LiveHub, case: str) -> None:
    body, extra = EVENT_CASES[case]
    headers: dict[str, str | bytes] = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {live.hub.token}",
        **extra,
    }
    answer = _refused(live, "POST", "/events", body, headers)
    assert answer.content_type.startswith("application/json")
    error = json.loads(answer.body)
    assert set(error) == {"error", "message"} and error["message"]


def test_a_good_event_is_still_accepted(live: LiveHub) -> None:
    """The refusals above are not a hub that refuses everything."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {live.hub.token}"}
    body = _event(occurred_at=1700000000.5, txn="fine", id="good-1")
    answer = live.request("POST", "/events", body, headers)
    assert answer.status == 202, answer.text()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/topics/nl%0A", {}),
        ("/topics/MyTopic", {}),
        ("/topics/bad%20name", {}),
        ("/topics/" + "a" * 65, {}),
        ("/topics/news", {"Authorization": b"Bearer " + NOT_UTF8}),
        ("/topics/news", {"Content-Type": b"text/plain; charset=" + NOT_UTF8}),
    ],
    ids=["newline", "uppercase", "space", "too-long", "authorization", "content-type"],
)
def test_topic_posts_refuse_with_a_plain_reason(
    live: LiveHub, path: str, headers: dict[str, bytes]
) -> None:
    sent = {"Authorization": f"Bearer {live.hub.token}", "Content-Type": "text/plain", **headers}
    answer = _refused(live, "POST", path, b"content", sent)
    assert answer.content_type.startswith("text/plain")


@pytest.mark.parametrize("path", ["/topics/nl%0A", "/topics/MyTopic"])
def test_invalid_topic_names_are_400_on_post_and_404_on_get(live: LiveHub, path: str) -> None:
    """Walkthrough 12: the POST that would create the topic says why the name cannot be one."""
    headers = {"Authorization": f"Bearer {live.hub.token}", "Content-Type": "text/plain"}
    answer = live.request("POST", path, b"content", headers)
    assert answer.status == 400
    assert answer.text() == "invalid topic name (lowercase letters, digits, . _ -; at most 64)\n"
    assert live.request("GET", path).status == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["news", "login"])
def test_topic_bodies_cannot_run_script_on_the_hub_origin(
    live: LiveHub, method: str, name: str
) -> None:
    """L7: a publisher's `text/html` is served, but not sniffed nor run as the hub's page."""
    headers = {"Authorization": f"Bearer {live.hub.token}", "Content-Type": "text/html"}
    posted = live.request("POST", "/topics/news", b"<script>alert(1)</script>", headers)
    assert posted.status == 202, posted.text()
    answer = live.request(method, f"/topics/{name}")
    assert answer.status == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "sandbox"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/events", "application/json"), ("/hub", FORM), ("/topics/news", "text/plain")],
)
def test_a_body_that_contradicts_its_content_encoding_is_400(
    live: LiveHub, path: str, content_type: str
) -> None:
    """aiohttp fails to read it (RequestPayloadError); the route says why and closes."""
    headers = {
        "Authorization": f"Bearer {live.hub.token}",
        "Content-Type": content_type,
        "Content-Encoding": "gzip",
    }
    answer = _refused(live, "POST", path, b"not gzip", headers)
    assert "cannot be decoded" in answer.text()
    assert answer.headers["Connection"] == "close"


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/healthz?" + "a" * 9000, {}), ("/healthz", {"X-Long": "a" * 9000})],
    ids=["request-line", "header"],
)
def test_malformed_http_is_logged_as_one_line(
    live: LiveHub, path: str, headers: dict[str, str | bytes]
) -> None:
    """aiohttp answers 400 itself; its log record is one INFO line, not an ERROR traceback."""
    _refused(live, "GET", path, b"", headers)
