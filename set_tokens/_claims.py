"""The claim set of a Security Event Token, following the Shared Signals Framework profile.

RFC 8417 §2 plus SSF 1.0 §4.1: `iss`, `iat` (seconds), `jti`, `sub_id` and exactly one event are
required; `sub` and `exp` MUST NOT appear; unknown claims are kept and ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from ._subjects import SubjectIdentifier

__all__ = ["SecurityEventToken"]

FORBIDDEN_CLAIMS = ("sub", "exp")


class SecurityEventToken(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    iss: str = Field(min_length=1)
    iat: StrictInt = Field(ge=0)
    jti: str = Field(min_length=1)
    aud: str | list[str] | None = None
    txn: str | None = None
    toe: StrictInt | None = None
    sub_id: SubjectIdentifier
    events: dict[str, dict[str, Any]]

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for claim in FORBIDDEN_CLAIMS:
                if claim in data:
                    raise ValueError(f"the {claim!r} claim must not be present in a SET (SSF 4.1)")
        return data

    @field_validator("events", mode="before")
    @classmethod
    def _one_event(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("events must be a JSON object")
        if len(value) != 1:
            raise ValueError(f"exactly one event is required, found {len(value)}")
        (payload,) = value.values()
        if not isinstance(payload, dict):
            raise ValueError("the event's value must be a JSON object")
        return value

    @property
    def event_uri(self) -> str:
        return next(iter(self.events))

    @property
    def event_payload(self) -> dict[str, Any]:
        return self.events[self.event_uri]

    @property
    def audiences(self) -> list[str]:
        if self.aud is None:
            return []
        return [self.aud] if isinstance(self.aud, str) else list(self.aud)

    def to_claims(self) -> dict[str, Any]:
        """The JSON claim set (subject identifier in wire form, absent claims left out)."""
        claims = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        claims["sub_id"] = self.sub_id.to_json()
        return claims
