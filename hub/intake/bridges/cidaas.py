"""cidaas webhooks: cidaas authenticates a webhook call with an API key it sends as a header or
a query parameter, both named in the webhook setup (`auth_type: APIKEY`, `apikey_placeholder`,
`apikey_placement`; cidaas's webhook API and Terraform provider). A source's options say which:
`key_in` (header | query, default header) and `key_name` (default `api-key`).

The body is `{"event_type", "event_time", "current_context", "data"}` (cidaas admin guide). Where
the user's id sits in `data` is not shown in any page found, so it is an option, `user_path`
(default: the first of data.sub, data.userId, data.user_id, sub), and `email_path` likewise (default
data.email). No event id is documented: a delivery is known again by its exact bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from set_tokens import Catalog

from ...store import Source
from .common import (
    BadSignature,
    Inbound,
    MalformedWebhook,
    Translation,
    VendorEvent,
    body_digest,
    epoch_seconds,
    member,
    user_subject,
    vendor_entry,
)

__all__ = ["CidaasBridge"]

DEFAULT_USER_PATHS = ("data.sub", "data.userId", "data.user_id", "sub")


class CidaasBridge:
    vendor = "cidaas"
    options: Mapping[str, str] = {
        "key_in": "header",
        "key_name": "api-key",
        "user_path": "",
        "email_path": "data.email",
        "issuer": "",
    }

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def authenticate(self, source: Source, inbound: Inbound) -> None:
        name = source.options.get("key_name") or self.options["key_name"]
        where = source.options.get("key_in") or self.options["key_in"]
        presented = (inbound.query if where == "query" else inbound.headers).get(name)
        if not presented:
            raise BadSignature(f"the API key ({where} {name}) is missing")
        if not hmac.compare_digest(presented.encode(), source.secret):
            raise BadSignature(f"the API key ({where} {name}) is not this source's")

    def translate(self, source: Source, document: Any, inbound: Inbound) -> Translation:
        if not isinstance(document, dict):
            raise MalformedWebhook("body", "must be a JSON object")
        event = member(document, "event_type")
        if vendor_entry(self._catalog, self.vendor, event) is None:
            return Translation([], [event])
        configured = source.options.get("user_path")
        paths = (configured,) if configured else DEFAULT_USER_PATHS
        user_id = next(
            (found for path in paths if (found := member(document, path, required=False))), None
        )
        email_path = source.options.get("email_path") or self.options["email_path"]
        subject = user_subject(
            user_id,
            issuer=source.options.get("issuer") or None,
            email=member(document, email_path, required=False),
            field_name=paths[0],
        )
        occurred = epoch_seconds(member(document, "event_time", (str, int, float),
                                        required=False), "event_time")
        return Translation([VendorEvent(event, subject, {}, occurred, body_digest(inbound.body))])
