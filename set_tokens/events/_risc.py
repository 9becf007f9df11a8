"""RISC 1.0 event payloads (base URI https://schemas.openid.net/secevent/risc/event-type/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ._caep import CredentialType
from ._common import EventPayload, LocalizedText, check_numeric_date

__all__ = ["RISC_BASE", "AccountDisabled", "CredentialCompromise", "IdentifierChanged", "RiscEvent"]

RISC_BASE = "https://schemas.openid.net/secevent/risc/event-type/"


class RiscEvent(EventPayload):
    """RISC events with no claims of their own."""


class AccountDisabled(EventPayload):
    reason: Literal["hijacking", "bulk-account"] | None = None


class IdentifierChanged(EventPayload):
    """The subject carries the OLD identifier; `new-value` the new one."""

    new_value: str | None = Field(default=None, alias="new-value")


class CredentialCompromise(EventPayload):
    credential_type: CredentialType
    event_timestamp: int | None = None
    reason_admin: LocalizedText | None = None
    reason_user: LocalizedText | None = None

    @field_validator("event_timestamp")
    @classmethod
    def _seconds(cls, value: int | None) -> int | None:
        return check_numeric_date(value)
