"""Registering an inbound source: a checked name, a known vendor, its options, and its secret.

The secret is what the vendor authenticates its webhooks with. cidaas (an API key) and Asgardeo
(an HMAC secret) let the operator choose it, so one is generated when none is given; Logto and
LoginRadius make their own (the webhook's signing key, the API secret), so it must be given.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from ...errors import BadRequest
from ...store import Source
from .asgardeo import AsgardeoBridge
from .cidaas import CidaasBridge
from .loginradius import LoginRadiusBridge
from .logto import LogtoBridge

__all__ = ["VENDOR_OPTIONS", "InvalidSource", "new_source", "source_url"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SECRET_BYTES = 32
VENDOR_OPTIONS: Mapping[str, Mapping[str, str]] = {
    bridge.vendor: bridge.options
    for bridge in (LogtoBridge, LoginRadiusBridge, CidaasBridge, AsgardeoBridge)
}
VENDOR_MADE_SECRETS = {
    "logto": "the webhook's signing key (Logto Console > Webhooks > the webhook)",
    "loginradius": "the API secret chosen for the webhook (LoginRadius Console)",
}
CHOICES = {"key_in": ("header", "query")}


class InvalidSource(BadRequest):
    code = "invalid_source"


def new_source(
    name: str, vendor: str, secret: str | None, options: Mapping[str, str], *, now: float
) -> Source:
    if not NAME.match(name):
        raise InvalidSource("a source name is 1-64 letters, digits, '.', '_' or '-'")
    if vendor not in VENDOR_OPTIONS:
        raise InvalidSource(f"vendor must be one of {', '.join(VENDOR_OPTIONS)}")
    allowed = VENDOR_OPTIONS[vendor]
    for key, value in options.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise InvalidSource(f"{vendor} sources take no option {key!r} (options: {known})")
        if key in CHOICES and value not in CHOICES[key]:
            raise InvalidSource(f"option {key} must be one of {', '.join(CHOICES[key])}")
    if secret is None:
        if vendor in VENDOR_MADE_SECRETS:
            made_by = VENDOR_MADE_SECRETS[vendor]
            raise InvalidSource(f"{vendor} makes the secret itself: pass {made_by} with --secret")
        secret = secrets.token_urlsafe(SECRET_BYTES)
    if not secret:
        raise InvalidSource("the secret must not be empty")
    return Source(name=name, vendor=vendor, secret=secret.encode(), options=dict(options),
                  created_at=now)


def source_url(base_url: str, name: str) -> str:
    return f"{base_url}/ingest/{name}"
