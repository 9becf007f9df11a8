"""Asgardeo / WSO2 Identity Server webhooks, delivered through their WebSub hub: the endpoint
first answers a WebSub verification GET with `hub.challenge`, then receives POSTs signed with
`X-Hub-Signature: sha256=HEX` (HMAC of the raw body under the webhook's secret; WebSub §8).

A body is SET-like JSON: `iss`, `jti` (the event's unique id, used to deduplicate), `iat` in
milliseconds, and `events` keyed by a WSO2 event URI. The user is `user.id` with `user.claims`;
one `sessionRevoked` naming N `sessions` is N session-revoked events, one per session.
"""

from __future__ import annotations

import hashlib
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
    epoch_seconds,
    member,
    require_body_mac,
    user_subject,
    vendor_entry,
)

__all__ = ["AsgardeoBridge"]

SIGNATURE_HEADER = "x-hub-signature"
HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
          "sha512": hashlib.sha512}
EMAIL_CLAIM = "http://wso2.org/claims/emailaddress"
MOBILE_CLAIM = "http://wso2.org/claims/mobile"
INITIATORS = {"ADMIN": "admin", "USER": "user", "APPLICATION": "system"}
CHANGE_TYPES = {"INVITE": "create"}  # a first password set through an invitation


class AsgardeoBridge:
    vendor = "asgardeo"
    options: Mapping[str, str] = {"issuer": ""}

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def authenticate(self, source: Source, inbound: Inbound) -> None:
        presented = inbound.headers.get(SIGNATURE_HEADER, "")
        method, _, value = presented.partition("=")
        digest = HASHES.get(method.strip().lower())
        if not presented:
            raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
        if digest is None:
            raise BadSignature(f"the {SIGNATURE_HEADER} method must be one of {sorted(HASHES)}")
        require_body_mac(source, inbound, value, SIGNATURE_HEADER, digest)

    def translate(self, source: Source, document: Any, inbound: Inbound) -> Translation:
        if not isinstance(document, dict):
            raise MalformedWebhook("body", "must be a JSON object")
        jti = member(document, "jti")
        occurred = epoch_seconds(member(document, "iat", (int, float), required=False), "iat")
        events = member(document, "events", dict)
        if not events:
            raise MalformedWebhook("events", "must name an event")
        made: list[VendorEvent] = []
        unmapped: list[str] = []
        for uri, body in events.items():
            entry = vendor_entry(self._catalog, self.vendor, uri)
            if entry is None:
                unmapped.append(uri)
                continue
            if not isinstance(body, dict):
                raise MalformedWebhook(f"events.{uri}", "must be an object")
            made.extend(self._events(source, uri, entry.name, body, occurred, f"{jti}#{len(made)}"))
        return Translation(made, unmapped)

    def _events(self, source: Source, uri: str, name: str, body: dict[str, Any],
                occurred: int | None, event_id: str) -> list[VendorEvent]:
        user = self._user(source, uri, body)
        data = self._data(name, body)
        if name == "session-revoked":
            sessions = member(body, "sessions", list)
            return [
                VendorEvent(uri, _with_session(user, session, f"events.{uri}.sessions"), data,
                            occurred, f"{event_id}.{n}")
                for n, session in enumerate(sessions)
            ]
        session = body.get("session")
        subject = _with_session(user, session, f"events.{uri}.session") if session else user
        return [VendorEvent(uri, subject, data, occurred, event_id)]

    @staticmethod
    def _user(source: Source, uri: str, body: dict[str, Any]) -> dict[str, Any]:
        user = member(body, "user", dict)
        claims = {
            claim.get("uri"): claim.get("value")
            for claim in user.get("claims") or []
            if isinstance(claim, dict) and isinstance(claim.get("value"), str)
        }
        return user_subject(
            member(user, "id", required=False),
            issuer=source.options.get("issuer") or None,
            email=claims.get(EMAIL_CLAIM),
            phone=claims.get(MOBILE_CLAIM),
            field_name=f"events.{uri}.user.id",
        )

    def _data(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        entry = self._catalog.lookup(name)
        initiator = INITIATORS.get(str(body.get("initiatorType", "")))
        if entry.standard != "sethub":
            data: dict[str, Any] = {}
            if initiator and entry.standard == "caep":
                data["initiating_entity"] = initiator
            change = CHANGE_TYPES.get(str(body.get("action", "")))
            if change and entry.uri.endswith("/credential-change"):
                data["change_type"] = change
            return data
        reason = body.get("reason") if isinstance(body.get("reason"), dict) else {}
        step = (reason.get("context") or {}).get("failedStep") or {}
        context = {
            "ip_address": body.get("initiatorIpAddress"),
            "application": (body.get("application") or {}).get("name"),
            "tenant": (body.get("tenant") or {}).get("name"),
            "reason": reason.get("description"),
            "authenticator": step.get("authenticator") if isinstance(step, dict) else None,
        }
        allowed = entry.payload_model.model_fields
        return {key: value for key, value in context.items()
                if key in allowed and isinstance(value, str) and value}


def _with_session(user: dict[str, Any], session: Any, path: str) -> dict[str, Any]:
    """SSF's complex subject: the user (its first identifier) and the session."""
    session_id = member(session, "id", required=False) if isinstance(session, dict) else None
    if session_id is None:
        raise MalformedWebhook(f"{path}.id", "is required")
    principal = user["identifiers"][0] if user["format"] == "aliases" else user
    return {"format": "complex", "user": principal,
            "session": {"format": "opaque", "id": session_id}}
