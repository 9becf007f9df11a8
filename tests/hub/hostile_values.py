"""Hypothesis strategies for hostile input to the hub: forms, URLs and identity-event bodies.

The classes come from the reviews: lone surrogates (`charset=utf-7` with `+2AA-`, JSON `\\ud800`
escapes, header bytes that are not UTF-8), numbers too big for int() or SQLite, NaN, Infinity and
1e999, JSON nested 100,000 deep, a backslash in a host, control characters and newlines in names.
Most values are drawn from pools of such strings (one draw each, so generation stays cheap),
alone, concatenated, or mixed with arbitrary short text.
"""

from __future__ import annotations

import functools
import json

from hypothesis import strategies as st

from hub.intake.identity_events import LATEST_TIME_OF_EVENT

__all__ = [
    "EVENT_BODIES",
    "EVENT_FIELDS",
    "FORM_PARAMETERS",
    "GOOD_EVENT",
    "JSON_VALUES",
    "NUMBERS",
    "TEXT",
    "URLS",
    "events",
    "hub_forms",
    "json_body",
    "one_bad_field",
]


def pool(values: list[str]) -> st.SearchStrategy[str]:
    """One of `values`; drawn by index, so the strategy's repr does not quote 5,000 digits."""
    return st.sampled_from(range(len(values))).map(values.__getitem__)


HOSTILE_TEXT = [
    "",
    " ",
    "nl\n",
    "\r\n",
    "\x00",
    "\x7f",
    "+2AA-",  # utf-7 for a lone surrogate
    "\\",
    "\ud800",
    "\udfff",
    "a\udc80b",
    "\udbff\udfff",  # a valid pair, written as two code points
    "é",
    "\u202e",
    "%ED%A0%80",
    "%00",
    "%",
    "NaN",
    "Infinity",
    "1e999",
    "-1",
    "0",
    str(2**63),
    "9" * 5000,
    "a" * 300,
    "login",
    "news",
]
TEXT = st.one_of(
    pool(HOSTILE_TEXT),
    st.text(max_size=10),
    st.tuples(pool(HOSTILE_TEXT), pool(HOSTILE_TEXT)).map("".join),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    pool(["9" * 5000, "00", "\u0663", "1_000", " 5", "+5", "0x10", "5.0", "9" * 11]),
)
SCHEMES = ["http", "https", "HTTP", "ftp", "javascript", ""]
HOSTS = [
    "127.0.0.1",
    "127.0.0.1:1",
    "[::1]:1",
    "localhost:1",
    "127.0.0.1:1\\@127.0.0.1:2",
    "a\\b",
    "[::1",
    "127.0.0.1:99999",
    "127.0.0.1:0",
    "127.0.0.1:x",
    "a\xadb",
    "u:p@127.0.0.1:1",
    "[fe80::1%25eth0]",
    "\ud800",
    "xn--",
    "a b",
    "",
]
URL_PATHS = ["", "/", "/a%2fb", "/%7Eu", "/?q=1", "/#f", "/+2AA-", "/%ED%A0%80", "/\ud800", "/\n"]
URLS = st.one_of(
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(SCHEMES),
        st.one_of(st.sampled_from(HOSTS), TEXT),
        st.one_of(st.sampled_from(URL_PATHS), TEXT.map("/{}".format)),
    ),
    TEXT,
)
FORM_PARAMETERS = [
    "hub.mode",
    "hub.topic",
    "hub.callback",
    "hub.lease_seconds",
    "hub.secret",
    "hub.url",
    "sethub.audience",
    "sethub.events",
]
MODES = ["subscribe", "unsubscribe", "publish", "denied", "SUBSCRIBE", "sub\x00", ""]


def hub_forms(topics: list[str], callbacks: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Mostly-plausible WebSub forms: every field may be hostile, missing or repeated."""
    return _hub_forms(tuple(topics), tuple(callbacks))


@functools.cache
def _hub_forms(
    topics: tuple[str, ...], callbacks: tuple[str, ...]
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """The strategies are built once per topics and callbacks, not at every draw: built inside
    the draw, their construction and validation took a quarter of the parser test's time."""
    values = [
        ("hub.mode", st.one_of(st.sampled_from(MODES), TEXT)),
        ("hub.topic", st.one_of(st.sampled_from(list(topics)), URLS)),
        ("hub.callback", st.one_of(st.sampled_from(list(callbacks)), URLS)),
        ("hub.lease_seconds", st.one_of(NUMBERS, TEXT)),
        ("hub.secret", TEXT),
        ("sethub.audience", st.one_of(URLS, TEXT)),
        ("sethub.events", st.one_of(st.sampled_from(["login-failed", "nope, ,"]), TEXT)),
    ]
    kept_fields = st.lists(st.booleans(), min_size=len(values), max_size=len(values))
    extra_names = st.lists(st.one_of(st.sampled_from(FORM_PARAMETERS), TEXT), max_size=2)
    extra_values = st.one_of(TEXT, URLS)

    @st.composite
    def forms(draw: st.DrawFn) -> list[tuple[str, str]]:
        fields = [(name, draw(value)) for name, value in values]
        kept = draw(kept_fields)
        fields = [field for field, keep in zip(fields, kept, strict=True) if keep]
        for name in draw(extra_names):
            fields.append((name, draw(extra_values)))
        return fields

    return forms()


# Documents json.dumps cannot write but json.loads reads (NaN, 1e999, 100,000-deep nesting, lone
# surrogates): placed in a document as marker strings, replaced after dumping.
RAW_JSON = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e-999",
    "-0",
    "9" * 5000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "[" * 33 + "]" * 33,
    '"\\ud800"',
    '"a\\udfff\\ud800"',
]
RAW = st.sampled_from([f"@raw{n}@" for n in range(len(RAW_JSON))])
TIMES = st.one_of(
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(
        [
            1700000000.5,
            LATEST_TIME_OF_EVENT,
            LATEST_TIME_OF_EVENT + 1,
            "2026-11-24T10:00:00Z",
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "2026-11-24T10:00:00",
        ]
    ),
    TEXT,
    RAW,
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, RAW),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
TYPES = st.one_of(
    st.sampled_from(
        [
            "login-failed",
            "USER_LOGIN_FAILURE",
            "credential-change",
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
            "PostSignIn",
            "role-assigned",
        ]
    ),
    TEXT,
)
SUBJECTS = st.one_of(
    st.just({"format": "email", "email": "jane@example.com"}),
    st.builds(lambda id_: {"format": "opaque", "id": id_}, TEXT),
    st.builds(lambda email: {"format": "email", "email": email}, TEXT),
    JSON_VALUES,
)
EVENT_FIELDS = {
    "type": TYPES,
    "subject": SUBJECTS,
    "data": st.one_of(st.dictionaries(st.sampled_from(["reason", "x"]), JSON_VALUES), JSON_VALUES),
    "occurred_at": TIMES,
    "txn": st.one_of(TEXT, RAW),
    "id": st.one_of(TEXT, RAW),
    "extra": JSON_VALUES,
}


_FIELD_NAMES = st.sampled_from(sorted(EVENT_FIELDS))  # built once, drawn from at every example
_FIELD_SETS = st.sets(_FIELD_NAMES)


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    """An event with `type` and `subject` and any of the other fields, each possibly hostile."""
    names = ["type", "subject", *draw(_FIELD_SETS)]
    return {name: draw(EVENT_FIELDS[name]) for name in names}


GOOD_EVENT: dict[str, object] = {
    "type": "login-failed",
    "subject": {"format": "email", "email": "jane@example.com"},
    "data": {"reason": "bad password"},
    "occurred_at": "2026-11-24T10:00:00Z",
    "txn": "txn-1",
}


@st.composite
def one_bad_field(draw: st.DrawFn) -> dict[str, object]:
    """A valid event with one field replaced: the hostile value reaches that field's check."""
    name = draw(_FIELD_NAMES)
    return {**GOOD_EVENT, name: draw(EVENT_FIELDS[name])}


def json_body(document: object) -> bytes:
    """The document as a request body, with the RAW_JSON markers replaced."""
    text = json.dumps(document)
    if "@raw" in text:
        for n, raw in enumerate(RAW_JSON):
            text = text.replace(f'"@raw{n}@"', raw)
    return text.encode("utf-8", "surrogatepass")


EVENT_BODIES = st.one_of(
    one_bad_field().map(json_body),
    events().map(json_body),
    st.lists(events(), max_size=3).map(json_body),
    JSON_VALUES.map(json_body),
    st.binary(max_size=100),
)
