"""What every vendor bridge shares: the request it authenticates, the events it makes, the errors
it raises, and the small readers of vendor JSON.

A bridge turns one native webhook of an identity provider into catalog events. It first checks
the vendor's own authentication on the raw body (`authenticate`), then maps the payload
(`translate`): each vendor event becomes zero or more `VendorEvent`s with an RFC 9493 subject,
or is reported unmapped. Nothing here stores or publishes: `ingestion.Ingestion` does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from set_tokens import Catalog
from set_tokens.events import EventType, UnknownEventType
from set_tokens.events._sources import case_insensitive

from ...errors import BadRequest, Unauthorized
from ...store import Source

__all__ = [
    "BadSignature",
    "Bridge",
    "Inbound",
    "MalformedWebhook",
    "Translation",
    "VendorEvent",
    "body_digest",
    "epoch_seconds",
    "member",
    "require_body_mac",
    "require_signature",
    "user_subject",
    "vendor_entry",
]

# A NumericDate this large is milliseconds (see set_tokens.events._common.MAX_NUMERIC_DATE):
# vendors that send milliseconds (Asgardeo's iat, loginTime) are converted, not refused.
MILLISECONDS_FROM = 10**11
MAX_NAME_IN_ERRORS = 100


class BadSignature(Unauthorized):
    """The webhook does not carry the vendor's valid authentication."""

    code = "bad_signature"

    def headers(self) -> dict[str, str]:
        return {}  # not a bearer-token endpoint


class MalformedWebhook(BadRequest):
    """The payload lacks a member the mapping needs, or has it of the wrong kind."""

    code = "malformed_webhook"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Inbound:
    """One webhook request as received: the raw body (signatures cover its exact bytes)."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VendorEvent:
    type_name: str  # a catalog name or alias
    subject: dict[str, Any]  # RFC 9493 wire form
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: int | None = None  # epoch seconds
    event_id: str | None = None  # the same id again (a vendor retry) publishes nothing new


@dataclass(frozen=True)
class Translation:
    events: list[VendorEvent]
    unmapped: list[str] = field(default_factory=list)  # vendor event names with no mapping


class Bridge(Protocol):
    vendor: str
    options: Mapping[str, str]  # the options a source of this vendor takes, with defaults

    def authenticate(self, source: Source, inbound: Inbound) -> None: ...

    def translate(self, source: Source, document: Any, inbound: Inbound) -> Translation: ...


def require_body_mac(
    source: Source,
    inbound: Inbound,
    presented: str | None,
    header: str,
    digest: Any = hashlib.sha256,
) -> None:
    """The vendor's HMAC of the raw body, keyed with the source's secret, must be `presented`."""
    expected = hmac.new(source.secret, inbound.body, digest).digest()
    require_signature(presented, expected, header)


def require_signature(presented: str | None, expected: bytes, header: str) -> None:
    """Compare a MAC the vendor sent (hex in any case, or base64) with ours, in constant time."""
    if not presented or not presented.strip():
        raise BadSignature(f"the {header} header is missing")
    text = presented.strip()
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text, validate=True))
    if not any(hmac.compare_digest(candidate, expected) for candidate in candidates):
        raise BadSignature(f"the {header} signature does not match the body")


def body_digest(body: bytes) -> str:
    """An event id for vendors that send none: a retry resends the same bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook("body", "is not valid JSON") from exc


def member(document: Any, path: str, kind: type | tuple[type, ...] = str, *,
           required: bool = True) -> Any:
    """The member at a dotted `path`, of `kind`; None if absent and not `required`."""
    value = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        if required:
            raise MalformedWebhook(path, "is required")
        return None
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise MalformedWebhook(path, f"must be {_kind_name(kind)}")
    if isinstance(value, str) and not value and required:
        raise MalformedWebhook(path, "must not be empty")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", dict: "an object", list: "an array",
             int: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def epoch_seconds(value: Any, path: str) -> int | None:
    """An RFC 3339 / ISO 8601 time or an epoch number (milliseconds converted) as seconds."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise MalformedWebhook(path, "must not be negative")
        return int(value // 1000) if value >= MILLISECONDS_FROM else int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise MalformedWebhook(path, "is not an ISO 8601 time") from exc
        if moment.tzinfo is None:
            raise MalformedWebhook(path, "must carry a time zone")
        return int(moment.timestamp())
    raise MalformedWebhook(path, "must be a time")


def _phone(value: str | None) -> str | None:
    """E.164 with its `+`: vendors that store the digits alone (Logto) get it back."""
    if not value:
        return None
    digits = value.replace(" ", "").replace("-", "")
    if not digits.startswith("+"):
        digits = "+" + digits
    body = digits[1:]
    return digits if body.isdigit() and 2 <= len(body) <= 15 and body[0] != "0" else None


def user_subject(
    user_id: str | None,
    *,
    issuer: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    field_name: str = "user id",
) -> dict[str, Any]:
    """The user as an RFC 9493 subject: the id (`iss_sub` when the source has an issuer, else
    `opaque`), with the e-mail and phone as `aliases` of it when the payload carries them."""
    identifiers: list[dict[str, Any]] = []
    if user_id:
        if issuer:
            identifiers.append({"format": "iss_sub", "iss": issuer, "sub": user_id})
        else:
            identifiers.append({"format": "opaque", "id": user_id})
    if email and "@" in email:
        identifiers.append({"format": "email", "email": email})
    number = _phone(phone)
    if number:
        identifiers.append({"format": "phone_number", "phone_number": number})
    if not identifiers:
        raise MalformedWebhook(field_name, "is required to name the user")
    if len(identifiers) == 1:
        return identifiers[0]
    return {"format": "aliases", "identifiers": identifiers}


def vendor_entry(catalog: Catalog, vendor: str, name: str) -> EventType | None:
    """The catalog entry `name` is `vendor`'s alias of; None when it is not one of its names."""
    try:
        entry = catalog.lookup(name)
    except UnknownEventType:
        return None
    if case_insensitive(vendor):
        folded = name.casefold()
        return entry if any(
            alias.casefold() == folded and owner == vendor for alias, owner in entry.aliases.items()
        ) else None
    return entry if entry.aliases.get(name) == vendor else None


def shown(name: str) -> str:
    """A vendor's event name as it may appear in logs, metrics and errors: bounded."""
    return name[:MAX_NAME_IN_ERRORS]
