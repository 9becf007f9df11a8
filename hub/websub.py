"""W3C WebSub protocol values: parsing hub requests, leases, verification URLs, signatures.

Pure functions over plain values; no I/O, no store, no HTTP answers: a request the
Recommendation does not allow raises a `ProtocolError`, which the HTTP surface answers with 400.
Section numbers are the Recommendation's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit

from multidict import MultiDictProxy
from yarl import URL

__all__ = [
    "AUDIENCE_PARAMETER",
    "EVENTS_PARAMETER",
    "MAX_LEASE_DIGITS",
    "MAX_SECRET_BYTES",
    "MAX_URL_LENGTH",
    "InvalidCallback",
    "InvalidLease",
    "InvalidMode",
    "InvalidParameter",
    "InvalidTopic",
    "MissingParameter",
    "Mode",
    "ProtocolError",
    "PublishRequest",
    "SecretTooLong",
    "SubscriptionRequest",
    "grant_lease",
    "link_header",
    "normalize_url",
    "parse_hub_request",
    "signature_header",
    "verification_url",
]

MAX_SECRET_BYTES = 200  # §5.1: hub.secret MUST be less than 200 bytes
MAX_URL_LENGTH = 2048
# A lease longer than any hub grants is clamped anyway (`grant_lease`); ten digits (over 300
# years) keep absurd numbers, 2^63 and 5,000-digit strings, out of `int()` and the database.
MAX_LEASE_DIGITS = 10
AUDIENCE_PARAMETER = "sethub.audience"
EVENTS_PARAMETER = "sethub.events"
_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Code points that are not characters: a `charset=utf-7` form (`+2AA-`) decodes to them, and
# neither SQLite nor a UTF-8 log line can take them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

Mode = Literal["subscribe", "unsubscribe"]


class ProtocolError(ValueError):
    """A hub request the Recommendation (or this hub's extensions) does not allow.

    `code` names the class of problem; `message` is safe to show the requester."""

    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingParameter(ProtocolError):
    code = "missing_parameter"  # a required form field is absent, empty or repeated


class InvalidMode(ProtocolError):
    code = "invalid_mode"  # hub.mode is not one the hub knows


class InvalidCallback(ProtocolError):
    code = "invalid_callback"  # hub.callback is not an absolute http(s) URL


class InvalidTopic(ProtocolError):
    code = "invalid_topic"  # hub.topic / hub.url is not an absolute http(s) URL


class InvalidLease(ProtocolError):
    code = "invalid_lease"  # hub.lease_seconds is not a positive integer


class SecretTooLong(ProtocolError):
    code = "secret_too_long"  # hub.secret is 200 bytes or more (§5.1)


class InvalidParameter(ProtocolError):
    code = "invalid_parameter"  # another parameter has a value the hub cannot use


@dataclass(frozen=True)
class SubscriptionRequest:
    mode: Mode
    topic: str
    callback: str
    lease_seconds: int | None
    secret: bytes | None
    # sethub's extensions for identity topics (see README): the SET audience, an event filter.
    audience: str | None = None
    events: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PublishRequest:
    topics: tuple[str, ...]


def _decode_unreserved(url: str) -> str:
    """§5.1.1: percent-encoded unreserved characters are decoded, so equal URLs compare equal.

    Escapes of other characters stay exactly as sent: the verification GET echoes hub.topic, and
    subscribers that compare it byte for byte (Flask-WebSub, django-push) refuse a rewritten one.
    """

    def replace(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0)

    return _UNRESERVED_ESCAPE.sub(replace, url)


def normalize_url(value: str, *, parameter: str) -> str:
    """An absolute http(s) URL without fragment, unreserved escapes decoded; else a named error."""
    error = InvalidCallback if parameter == "hub.callback" else InvalidTopic
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise error(f"{parameter} is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise error(f"{parameter} contains whitespace or control characters")
    if _SURROGATE.search(url):
        raise error(f"{parameter} is not valid Unicode text")
    try:
        parts = urlsplit(url)
        port = parts.port
        # The outbound side parses with yarl, which refuses what urlsplit lets through (a
        # backslash in the host, `http://a\@b/`): both must accept the URL, or neither acts on it.
        URL(url)
    except ValueError as exc:  # UnicodeError (IDNA) is a ValueError too
        raise error(f"{parameter} is not a valid URL") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise error(f"{parameter} must be an http or https URL")
    if not parts.hostname:
        raise error(f"{parameter} must be an absolute URL with a host")
    if port == 0:
        raise error(f"{parameter} has an invalid port")
    if parts.fragment or url.endswith("#"):
        raise error(f"{parameter} must not contain a fragment")
    return _decode_unreserved(url)


def _single(form: MultiDictProxy[str], name: str, *, required: bool) -> str | None:
    values = form.getall(name, [])
    if len(values) > 1:
        raise MissingParameter(f"{name} must be given once")
    value = values[0] if values else None
    if required and not value:
        raise MissingParameter(f"{name} is required")
    return value or None


def _lease(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidLease("hub.lease_seconds must be a positive integer")
    if len(value) > MAX_LEASE_DIGITS:
        raise InvalidLease(f"hub.lease_seconds must have at most {MAX_LEASE_DIGITS} digits")
    seconds = int(value)
    if seconds <= 0:
        raise InvalidLease("hub.lease_seconds must be a positive integer")
    return seconds


def _check_text(form: MultiDictProxy[str]) -> None:
    """Every name and value is text: nothing undecodable goes on to storage or the logs."""
    for name, value in form.items():
        if _SURROGATE.search(name):
            raise InvalidParameter("a parameter name is not valid Unicode text")
        if _SURROGATE.search(value):
            raise InvalidParameter(f"{name} is not valid Unicode text")


def parse_hub_request(form: MultiDictProxy[str]) -> SubscriptionRequest | PublishRequest:
    """Validate a form POST to the hub URL. Unknown parameters are ignored (§5.1)."""
    _check_text(form)
    mode = _single(form, "hub.mode", required=True)
    if mode == "publish":
        urls = [*form.getall("hub.url", []), *form.getall("hub.topic", [])]
        if not urls:
            raise MissingParameter("hub.url or hub.topic is required to publish")
        topics = tuple(dict.fromkeys(normalize_url(url, parameter="hub.url") for url in urls))
        return PublishRequest(topics=topics)
    if mode not in ("subscribe", "unsubscribe"):
        raise InvalidMode("hub.mode must be subscribe, unsubscribe or publish")
    callback = normalize_url(
        _single(form, "hub.callback", required=True) or "", parameter="hub.callback"
    )
    topic = normalize_url(_single(form, "hub.topic", required=True) or "", parameter="hub.topic")
    lease: int | None = None
    secret: bytes | None = None
    if mode == "subscribe":
        # On unsubscribe hub.lease_seconds MUST be ignored (§5.1), so it is not even validated.
        lease = _lease(_single(form, "hub.lease_seconds", required=False))
        raw_secret = _single(form, "hub.secret", required=False)
        if raw_secret is not None:
            secret = raw_secret.encode("utf-8")
            if len(secret) >= MAX_SECRET_BYTES:
                raise SecretTooLong(
                    f"hub.secret must be less than {MAX_SECRET_BYTES} bytes (WebSub 5.1)"
                )
    audience = _single(form, AUDIENCE_PARAMETER, required=False)
    if audience is not None and (len(audience) > MAX_URL_LENGTH or not audience.strip()):
        raise InvalidParameter(f"{AUDIENCE_PARAMETER} must be 1 to {MAX_URL_LENGTH} characters")
    events = _single(form, EVENTS_PARAMETER, required=False)
    names = (
        tuple(dict.fromkeys(n.strip() for n in events.split(",") if n.strip())) if events else None
    )
    if events is not None and not names:
        raise InvalidParameter(f"{EVENTS_PARAMETER} must name at least one event type")
    return SubscriptionRequest(
        mode="subscribe" if mode == "subscribe" else "unsubscribe",
        topic=topic,
        callback=callback,
        lease_seconds=lease,
        secret=secret,
        audience=audience,
        events=names,
    )


def grant_lease(requested: int | None, *, minimum: int, default: int, maximum: int) -> int:
    """The lease the hub grants: the request clamped to the bounds; never perpetual (§5.3.1)."""
    if requested is None:
        return default
    return max(minimum, min(maximum, requested))


def verification_url(callback: str, params: Mapping[str, str]) -> str:
    """The callback with hub.* parameters appended; its own query is kept as is (§5.3)."""
    separator = "&" if "?" in callback else "?"
    if callback.endswith(("?", "&")):
        separator = ""
    return f"{callback}{separator}{urlencode(params)}"


def signature_header(secret: bytes, body: bytes, algorithm: str) -> str:
    """`X-Hub-Signature: <method>=<hex HMAC>` (§7.1)."""
    digest = hmac.new(secret, body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


def link_header(hub_url: str, topic_url: str) -> str:
    """One Link header carrying rel=hub and exactly one rel=self (§7, §4)."""
    return f'<{hub_url}>; rel="hub", <{topic_url}>; rel="self"'
