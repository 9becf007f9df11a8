"""Inputs that once answered 500: each is now a 4xx with a plain reason, and nothing is stored.

One real hub (module-scoped, on a background loop) takes every case over one keep-alive
connection; each case checks the answer, that no error or traceback was logged, and that the
database did not change. Sources: security review L1; interop D4.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest

from hub.websub import normalize_url

from .live import Answer, LiveHub, live_hub
from .support import until

FORM = "application/x-www-form-urlencoded"
SURROGATE_UTF7 = "+2AA-"  # utf-7 for U+D800, a lone surrogate
# An external topic prefix the hub accepts (nothing fetches it: subscribing does not).
EXTERNAL = "http://127.0.0.1:9/feeds/"
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
