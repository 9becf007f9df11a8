"""What every event payload shares: unknown members are kept (receivers MUST ignore them), the
known ones are validated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "MAX_NUMERIC_DATE",
    "CaepPayload",
    "EventPayload",
    "InitiatingEntity",
    "LocalizedText",
    "check_numeric_date",
]

InitiatingEntity = Literal["admin", "user", "policy", "system"]
# CAEP 1.0 §2: a JSON object of BCP 47 language tag -> text that "MUST contain one or more
# key/value pairs"; an empty object, tag or text says nothing and is refused.
_Text = Annotated[str, StringConstraints(min_length=1)]
LocalizedText = Annotated[dict[_Text, _Text], Field(min_length=1)]

# NumericDate is in seconds (RFC 7519 §2). 10^11 seconds is the year 5138, while milliseconds
# of any date since 1973 are above it: a larger value is milliseconds, and refused as such.
MAX_NUMERIC_DATE = 10**11


def check_numeric_date(value: int | None) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise ValueError("must not be negative")
    if value >= MAX_NUMERIC_DATE:
        raise ValueError("must be seconds since the epoch (NumericDate), not milliseconds")
    return value


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class CaepPayload(EventPayload):
    """CAEP 1.0 §2: the optional claims of every CAEP event."""

    event_timestamp: int | None = None
    initiating_entity: InitiatingEntity | None = None
    reason_admin: LocalizedText | None = None
    reason_user: LocalizedText | None = None

    @field_validator("event_timestamp")
    @classmethod
    def _seconds(cls, value: int | None) -> int | None:
        return check_numeric_date(value)
