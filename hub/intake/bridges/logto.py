"""Logto webhooks (docs.logto.io/developers/webhooks): `logto-signature-sha-256` is the hex
HMAC-SHA256 of the raw body under the webhook's signing key.

The body names its event in `event` and carries the user as `user` / `userId` (interaction
hooks), as `data` (User.* data mutation hooks: the user entity) or only in the Management API's
`params.userId` (User.Deleted). Logto sends no event id (`hookId` names the webhook, not the
event), so a delivery is known again by its exact bytes: Logto resends the same body on a retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from set_tokens import Catalog

from ...store import Source
from .common import (
    Inbound,
    MalformedWebhook,
    Translation,
    VendorEvent,
    body_digest,
    epoch_seconds,
    member,
    require_body_mac,
    user_subject,
    vendor_entry,
)

__all__ = ["LogtoBridge"]

SIGNATURE_HEADER = "logto-signature-sha-256"
SUSPENSION = "User.SuspensionStatus.Updated"
LOCKOUT = "Identifier.Lockout"


class LogtoBridge:
    vendor = "logto"
    options: Mapping[str, str] = {"issuer": ""}

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def authenticate(self, source: Source, inbound: Inbound) -> None:
        require_body_mac(source, inbound, inbound.headers.get(SIGNATURE_HEADER), SIGNATURE_HEADER)

    def translate(self, source: Source, document: Any, inbound: Inbound) -> Translation:
        if not isinstance(document, dict):
            raise MalformedWebhook("body", "must be a JSON object")
        event = member(document, "event")
        occurred = epoch_seconds(member(document, "createdAt", required=False), "createdAt")
        event_id = body_digest(inbound.body)
        if event == LOCKOUT:
            return self._lockout(document, occurred, event_id)
        if event == SUSPENSION:
            suspended = member(document, "data.isSuspended", bool)
            type_name = "user-disabled" if suspended else "user-enabled"
        elif vendor_entry(self._catalog, self.vendor, event) is None:
            return Translation([], [event])
        else:
            type_name = event
        subject = self._user(document, source.options.get("issuer") or None)
        data = self._context(type_name, document)
        return Translation([VendorEvent(type_name, subject, data, occurred, event_id)])

    def _user(self, document: dict[str, Any], issuer: str | None) -> dict[str, Any]:
        user = member(document, "user", dict, required=False) or {}
        entity = member(document, "data", dict, required=False) or {}
        user_id = (
            member(document, "userId", required=False)
            or member(user, "id", required=False)
            or member(entity, "id", required=False)
            or member(document, "params.userId", required=False)
        )
        return user_subject(
            user_id,
            issuer=issuer,
            email=user.get("primaryEmail") or entity.get("primaryEmail"),
            phone=user.get("primaryPhone") or entity.get("primaryPhone"),
            field_name="userId",
        )

    def _context(self, type_name: str, document: dict[str, Any]) -> dict[str, Any]:
        entry = self._catalog.lookup(type_name)
        if entry.standard != "sethub":
            # A CAEP/RISC payload gets only members its standard defines.
            if entry.uri.endswith(("/session-established", "/credential-change")):
                by_admin = "path" in document and "interactionEvent" not in document
                return {"initiating_entity": "admin" if by_admin else "user"}
            return {}
        application = member(document, "application", dict, required=False) or {}
        context = {
            "ip_address": document.get("userIp") or document.get("ip"),
            "user_agent": document.get("userAgent"),
            "application": application.get("name") or document.get("applicationId"),
        }
        return {key: value for key, value in context.items() if isinstance(value, str) and value}

    def _lockout(self, document: dict[str, Any], occurred: int | None, event_id: str
                 ) -> Translation:
        kind = member(document, "type")
        value = member(document, "value")
        if kind == "email":
            subject = {"format": "email", "email": value}
        elif kind == "phone":
            subject = user_subject(None, phone=value, field_name="value")
        else:
            # A username is no RFC 9493 identifier of its own: nothing truthful to publish.
            return Translation([], [f"{LOCKOUT} ({kind})"])
        data = self._context("user-locked", document)
        return Translation([VendorEvent("user-locked", subject, data, occurred, event_id)])
