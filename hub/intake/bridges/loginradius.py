"""LoginRadius webhooks (loginradius.com/docs/integrations/webhook): the `signature` header is
the HMAC-SHA256 of the raw body under the API secret chosen for the webhook; the page's sample
prints it in hex, and base64 is accepted too (which encoding a live delivery uses could not be
confirmed: both are the same MAC).

The body is `{"HookName", "Time", "HookId", "Data"}` with `Data` the user's profile (`Uid`,
`Email: [{Type, Value}]`, `PhoneId`, ...). `HookId` is documented only as "a uniquely generated
number associated the triggered hook", so a delivery is known again by its exact bytes instead.
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

__all__ = ["LoginRadiusBridge"]

SIGNATURE_HEADER = "signature"
BLOCK = "blockaccount"


class LoginRadiusBridge:
    vendor = "loginradius"
    options: Mapping[str, str] = {"issuer": ""}

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def authenticate(self, source: Source, inbound: Inbound) -> None:
        require_body_mac(source, inbound, inbound.headers.get(SIGNATURE_HEADER), SIGNATURE_HEADER)

    def translate(self, source: Source, document: Any, inbound: Inbound) -> Translation:
        if not isinstance(document, dict):
            raise MalformedWebhook("body", "must be a JSON object")
        hook = member(document, "HookName")
        profile = member(document, "Data", dict)
        if hook.casefold() == BLOCK:
            type_name = self._block_meaning(document)
        elif vendor_entry(self._catalog, self.vendor, hook) is None:
            return Translation([], [hook])
        else:
            type_name = hook
        subject = user_subject(
            member(profile, "Uid", required=False),
            issuer=source.options.get("issuer") or None,
            email=_primary_email(profile),
            phone=member(profile, "PhoneId", required=False),
            field_name="Data.Uid",
        )
        occurred = epoch_seconds(member(document, "Time", required=False), "Time")
        event = VendorEvent(type_name, subject, {}, occurred, body_digest(inbound.body))
        return Translation([event])

    @staticmethod
    def _block_meaning(document: dict[str, Any]) -> str:
        """BlockAccount fires for a brute-force lockout, an admin block and an unblock/unlock
        (LoginRadius "Auth Security": IsLoginLocked, and IsActive false while blocked)."""
        active = member(document, "Data.IsActive", bool)
        locked = member(document, "Data.IsLoginLocked", bool, required=False)
        if not active:
            return "user-disabled"
        if locked:
            return "user-locked"
        # Usable again. An unblock and an unlock look alike here; account-enabled is true of
        # both, and a receiver that disabled the account on the block needs it.
        return "user-enabled"


def _primary_email(profile: dict[str, Any]) -> str | None:
    emails = profile.get("Email")
    if not isinstance(emails, list):
        return None
    values = [e for e in emails if isinstance(e, dict) and isinstance(e.get("Value"), str)]
    primary = [e for e in values if str(e.get("Type", "")).lower() == "primary"]
    chosen = (primary or values)[:1]
    return chosen[0]["Value"] if chosen else None
