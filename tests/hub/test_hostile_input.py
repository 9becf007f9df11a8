"""Generated hostile input: the parsers raise only their named errors, no endpoint answers 5xx or
logs a traceback, and the stored state stays consistent.

Two layers, so that many cases stay cheap (the strategies are in `hostile_values`):
- the pure parsers take thousands of inputs directly, and what they accept must be storable and
  usable by the outbound side. Each generated example is tried in several variants (every mode,
  each field left out, each event field alone in an otherwise valid event), so that a hostile
  value reaches the check of its own field instead of failing on an earlier one;
- a few hundred requests over one keep-alive connection reach every endpoint of a real hub with
  the same values, plus what only HTTP carries (charsets, content codings, header bytes that
  are not UTF-8, lines longer than aiohttp takes).

Network safety: the hub connects only to callbacks. A generated form that could name a callback
outside loopback is discarded before it is sent (`_stays_on_loopback`, decided offline).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import math
import warnings
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy
from yarl import URL

from hub.intake.identity_events import EVENT_FIELDS as PARSED_FIELDS
from hub.intake.identity_events import LATEST_TIME_OF_EVENT, InvalidEvent, parse_events
from hub.websub import (
    MAX_SECRET_BYTES,
    ProtocolError,
    PublishRequest,
    normalize_url,
    parse_hub_request,
)
from set_tokens import Catalog
from set_tokens.events import DEFAULT_NAMESPACE

from .hostile_values import (
    EVENT_BODIES,
    EVENT_FIELDS,
    GOOD_EVENT,
    JSON_VALUES,
    TEXT,
    URLS,
    events,
    hub_forms,
    json_body,
)
from .live import LiveHub, live_hub
from .support import until

PARSER_EXAMPLES = 400  # per parser test; most run the parser on 10 to 30 variants of each
REQUEST_EXAMPLES = 300  # end to end, over one keep-alive connection
MAX_BATCH = 100
CATALOG = Catalog(namespace=DEFAULT_NAMESPACE)
PARSERS = settings(max_examples=PARSER_EXAMPLES, deadline=None)

# --- the pure parsers ------------------------------------------------------------------------

TOPICS = ["http://127.0.0.1:8080/topics/news", "http://127.0.0.1:8080/topics/login"]
CALLBACKS = ["http://127.0.0.1:1/callback"]


def _storable(text: str | None) -> None:
    """What a parser accepts can be written to SQLite and to a UTF-8 log line."""
    if text is not None:
        text.encode("utf-8")


def _usable_url(url: str) -> None:
    _storable(url)
    assert urlsplit(url).scheme.lower() in ("http", "https")
    assert URL(url).raw_host  # the outbound side parses it with yarl, both ways
    assert URL(url, encoded=True).raw_host


def _form_variants(fields: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    """The form as drawn, then under each mode, whole and with each field left out."""
    yield fields
    rest = [(name, value) for name, value in fields if name != "hub.mode"]
    for mode in ("subscribe", "unsubscribe", "publish"):
        form = [("hub.mode", mode), *rest]
        yield form
        for n in range(1, len(form)):
            yield form[:n] + form[n + 1 :]


@PARSERS
@given(hub_forms(TOPICS, CALLBACKS))
def test_parse_hub_request_raises_only_protocol_errors(fields: list[tuple[str, str]]) -> None:
    for form in _form_variants(fields):
        try:
            parsed = parse_hub_request(MultiDictProxy(MultiDict(form)))
        except ProtocolError as error:
            assert error.message
            continue
        if isinstance(parsed, PublishRequest):
            for topic in parsed.topics:
                _usable_url(topic)
            continue
        _usable_url(parsed.topic)
        _usable_url(parsed.callback)
        assert parsed.lease_seconds is None or 0 < parsed.lease_seconds < 2**63
        assert parsed.secret is None or len(parsed.secret) < MAX_SECRET_BYTES
        _storable(parsed.audience)
        for name in parsed.events or ():
            _storable(name)


@PARSERS
@given(st.lists(URLS, min_size=1, max_size=10))
def test_normalize_url_raises_only_protocol_errors(values: list[str]) -> None:
    for value in values:
        try:
            url = normalize_url(value, parameter="hub.callback")
        except ProtocolError:
            continue
        _usable_url(url)


def _check_events(body: bytes) -> None:
    try:
        parsed = parse_events(body, CATALOG, max_batch=MAX_BATCH)
    except InvalidEvent as error:
        assert error.message
        return
    for event in parsed:
        assert event.toe is None or 0 <= event.toe <= LATEST_TIME_OF_EVENT
        _storable(event.txn)
        _storable(event.idempotency_id)
        json.dumps([event.subject, event.payload], ensure_ascii=False).encode("utf-8")
        assert all(math.isfinite(number) for number in _floats([event.subject, event.payload]))
        event.to_json()


def _floats(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _floats(item)


@PARSERS
@given(events())
def test_parse_events_raises_only_invalid_event(event: dict[str, object]) -> None:
    """The event alone and in a batch, then each of its fields alone in a valid event."""
    _check_events(json_body(event))
    _check_events(json_body([GOOD_EVENT, event]))
    for name, value in event.items():
        _check_events(json_body({**GOOD_EVENT, name: value}))


@PARSERS
@given(JSON_VALUES)
def test_parse_events_takes_any_json_anywhere(value: object) -> None:
    """The value as the body, as a batch, and in each field of a valid event."""
    _check_events(json_body(value))
    _check_events(json_body([value]))
    for name in EVENT_FIELDS:
        _check_events(json_body({**GOOD_EVENT, name: value}))


@PARSERS
@given(st.binary(max_size=200))
def test_parse_events_takes_any_bytes(body: bytes) -> None:
    _check_events(body)


def test_the_event_fields_cover_the_parser() -> None:
    """A field the parser learns must be fuzzed too (GOOD_EVENT + `extra` for unknown ones)."""
    assert set(EVENT_FIELDS) - {"extra"} == PARSED_FIELDS


# --- every endpoint of a real hub ------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
CHARSETS = [
    "",
    "; charset=utf-8",
    "; charset=latin-1",
    "; charset=utf-7",
    "; charset=utf-16",
    "; charset=unicode_escape",
    "; charset=nope",
    '; charset="utf-8"',
    "; boundary=x",
]
NOT_UTF8 = [b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"ok"]
CODINGS = [None, None, None, "gzip", "deflate", "br", "x-nope"]
NO_DECODER = {"br"}  # aiohttp has no decoder for it without Brotli installed
MAX_LINE = 8190  # aiohttp's limit on the request line and on each header line
COMPRESS = {"gzip": gzip.compress, "deflate": zlib.compress}
TOPIC_NAMES = st.one_of(
    st.sampled_from(["news", "login", "fresh", "MyTopic", "nl\n", "a" * 65, ".."]), TEXT
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    with live_hub(
        tmp_path_factory.mktemp("hostile"), max_request_bytes=64 * 1024, publish_rate=0
    ) as running:
        yield running


def _quote(text: str, safe: str = "") -> str:
    return quote(text, safe=safe, errors="surrogatepass")


def _form_values(body: bytes) -> list[str]:
    """Every name and value the hub could read from this form body, in any charset."""
    values: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # unicode_escape: "invalid escape"
        for charset in ("utf-8", "latin-1", "utf-7", "utf-16", "unicode_escape"):
            text = body.decode(charset, "replace")
            values += [part for pair in parse_qsl(text, encoding=charset) for part in pair]
    return values


def _stays_on_loopback(value: str) -> bool:
    """Offline: False if the hub could take `value` as a URL whose host is not on loopback."""
    try:
        url = normalize_url(value, parameter="hub.callback")
    except ProtocolError:
        return True
    host = URL(url).raw_host or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


Request = tuple[str, str, bytes, dict[str, str | bytes]]


@st.composite
def requests(draw: st.DrawFn, live: LiveHub) -> Request:
    endpoint = draw(
        st.sampled_from(["hub", "hub", "events", "events", "topic", "topics", "jwks", "ops"])
    )
    headers: dict[str, str | bytes] = {}
    authorization = draw(
        st.one_of(
            st.sampled_from([None, f"Bearer {live.hub.token}", "Bearer sethub_forged", "Basic"]),
            st.sampled_from(NOT_UTF8).map(lambda raw: b"Bearer " + raw),
        )
    )
    if authorization is not None:
        headers["Authorization"] = authorization
    if endpoint == "hub":
        topics = [live.hub.topic_url("news"), live.hub.topic_url("login")]
        fields = draw(hub_forms(topics, [live.subscriber.callback]))
        safe = draw(st.sampled_from(["", "+-:/"]))  # `+2AA-` stays as is for utf-7
        body = "&".join(f"{_quote(k, safe)}={_quote(v, safe)}" for k, v in fields).encode()
        headers["Content-Type"] = FORM + draw(st.sampled_from(CHARSETS))
        return "POST", "/hub", draw(st.one_of(st.just(body), st.binary(max_size=200))), headers
    if endpoint == "events":
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "", "text/plain"]))
        key = draw(st.one_of(st.none(), st.sampled_from(NOT_UTF8), TEXT.map(_quote)))
        if key is not None:
            headers["Idempotency-Key"] = key
        return "POST", "/events", draw(EVENT_BODIES), headers
    if endpoint == "topic":
        method = draw(st.sampled_from(["GET", "HEAD", "POST", "POST", "PUT"]))
        headers["Content-Type"] = draw(
            st.sampled_from(["text/html", "text/plain; charset=utf-8", *NOT_UTF8])
        )
        body = draw(st.binary(max_size=100)) if method != "GET" else b""
        return method, "/topics/" + _quote(draw(TOPIC_NAMES)), body, headers
    path = draw(
        st.sampled_from(
            {
                "topics": ["/topics"],
                "jwks": ["/.well-known/jwks.json"],
                "ops": ["/healthz", "/metrics"],
            }[endpoint]
        )
    )
    return draw(st.sampled_from(["GET", "HEAD", "POST"])), path, b"", headers


@settings(
    max_examples=REQUEST_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_endpoint_answers_4xx_not_5xx(live: LiveHub, data: st.DataObject) -> None:
    method, path, body, headers = data.draw(requests(live))
    if path == "/hub":
        assume(all(_stays_on_loopback(value) for value in _form_values(body)))
    coding = data.draw(st.sampled_from(CODINGS))
    if coding is not None:
        headers["Content-Encoding"] = coding
        body = _encoded(coding, body, data.draw(st.booleans()))
    answer = live.request(method, path, body, headers)
    assert answer.status < 500, (answer.status, answer.text())
    assert live.errors == []
    if answer.status < 400 or method == "HEAD":
        return
    assert answer.text().strip(), "a refusal needs a reason"
    if path == "/events" and not _refused_by_aiohttp(path, headers):
        error = json.loads(answer.body)
        assert answer.content_type.startswith("application/json"), answer.content_type
        assert error["error"] and error["message"]
    else:
        assert answer.content_type.startswith("text/plain"), answer.content_type


def _refused_by_aiohttp(path: str, headers: dict[str, str | bytes]) -> bool:
    """aiohttp answers these itself, before any route, in text/plain: a request line or header
    line near or over its limit, a coding it cannot decode. All the hub answers /events with
    is JSON."""
    lines = [len(path), *(len(name) + len(value) for name, value in headers.items())]
    return max(lines) > MAX_LINE - 100 or headers.get("Content-Encoding") in NO_DECODER


def _encoded(coding: str, body: bytes, valid: bool) -> bytes:
    """The body compressed as its coding says, or bytes that fail to decode at once.

    Not a stream cut short: aiohttp 3.14 finds that only at the end of the body, and when the
    body arrived apart from the headers the handler then waits for it forever (its parser drops
    the error; a read timeout ends the wait). The hub cannot answer what it never receives.
    """
    if coding not in COMPRESS:
        return body
    return COMPRESS[coding](body) if valid else b"not " + coding.encode()


def test_state_stays_consistent_after_the_storm(live: LiveHub) -> None:
    """Every stored subscription was verified by its callback; no delivery without one.

    Storm requests aimed at unreachable callbacks may still be waiting for a verification retry;
    they can never produce a subscription. One known-good request goes last, and once it is
    stored the hub has processed everything verifiable before it.
    """
    topic, callback = live.hub.topic_url("news"), live.subscriber.callback + "?last=1"
    form = f"hub.mode=subscribe&hub.topic={_quote(topic)}&hub.callback={_quote(callback)}"
    answer = live.request("POST", "/hub", form.encode(), {"Content-Type": FORM})
    assert answer.status == 202, answer.text()
    stored = live.hub.store.subscriptions
    live.run(until(lambda: stored.get(topic=topic, callback=callback), timeout=20))
    verified = {
        (query.get("hub.topic"), live.subscriber.callback + ("?last=1" if "last" in query else ""))
        for query in live.subscriber.verifications
        if query.get("hub.mode") == "subscribe"
    }
    for subscription in live.rows("SELECT topic, callback FROM subscriptions"):
        assert subscription in verified
    orphans = live.rows(
        "SELECT d.id FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id "
        "WHERE s.id IS NULL AND d.state = 'pending'"
    )
    assert orphans == []
    assert live.rows("PRAGMA integrity_check") == [("ok",)]
    assert live.errors == []
