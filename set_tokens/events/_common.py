"""What every event payload shares: unknown members are kept (receivers MUST ignore them), the
known ones are validated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["CaepPayload", "EventPayload", "InitiatingEntity", "LocalizedText"]

InitiatingEntity = Literal["admin", "user", "policy", "system"]
LocalizedText = dict[str, str]  # BCP 47 language tag -> text


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class CaepPayload(EventPayload):
    """CAEP 1.0 §2: the optional claims of every CAEP event."""

    event_timestamp: int | None = None
    initiating_entity: InitiatingEntity | None = None
    reason_admin: LocalizedText | None = None
    reason_user: LocalizedText | None = None
