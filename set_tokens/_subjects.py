"""Subject identifiers (RFC 9493) and the Shared Signals Framework's additions.

An identifier MUST hold every member its format requires and MUST NOT hold members the format does
not describe (RFC 9493 §3), so every model forbids extra members.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

__all__ = [
    "AccountId",
    "AliasesId",
    "ComplexId",
    "DidId",
    "EmailId",
    "InvalidSubjectIdentifier",
    "IpAddressesId",
    "IssSubId",
    "JwtIdId",
    "OpaqueId",
    "PhoneNumberId",
    "SamlAssertionIdId",
    "SubjectIdentifier",
    "UriId",
    "parse_subject_identifier",
    "subjects_match",
]

# RFC 5322 addr-spec, dot-atom local part (quoted local parts are not accepted) and a domain.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_DID = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+([/?#][^\s]*)?$")


class InvalidSubjectIdentifier(ValueError):
    """The value is not a valid subject identifier; the message names the member."""


class _Identifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The wire form: members as named by the RFC, absent ones left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class AccountId(_Identifier):
    format: Literal["account"] = "account"
    uri: str

    @field_validator("uri")
    @classmethod
    def _acct(cls, value: str) -> str:
        if not re.match(r"^acct:[^@\s]+@[^@\s]+$", value):
            raise ValueError("must be an acct: URI (RFC 7565)")
        return value


class EmailId(_Identifier):
    format: Literal["email"] = "email"
    email: str

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if len(value) > 254 or not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value


class IssSubId(_Identifier):
    format: Literal["iss_sub"] = "iss_sub"
    iss: NonEmpty
    sub: NonEmpty


class OpaqueId(_Identifier):
    format: Literal["opaque"] = "opaque"
    id: NonEmpty


class PhoneNumberId(_Identifier):
    format: Literal["phone_number"] = "phone_number"
    phone_number: str

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not _E164.match(value):
            raise ValueError("not an E.164 phone number (+ and up to 15 digits)")
        return value


class DidId(_Identifier):
    format: Literal["did"] = "did"
    url: str

    @field_validator("url")
    @classmethod
    def _did(cls, value: str) -> str:
        if not _DID.match(value):
            raise ValueError("not a DID URL")
        return value


class UriId(_Identifier):
    format: Literal["uri"] = "uri"
    uri: str

    @field_validator("uri")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not _SCHEME.match(value):
            raise ValueError("not an absolute URI")
        return value


class JwtIdId(_Identifier):
    format: Literal["jwt_id"] = "jwt_id"
    iss: NonEmpty
    jti: NonEmpty


class SamlAssertionIdId(_Identifier):
    format: Literal["saml_assertion_id"] = "saml_assertion_id"
    issuer: NonEmpty
    assertion_id: NonEmpty


class IpAddressesId(_Identifier):
    format: Literal["ip-addresses"] = "ip-addresses"
    ip_addresses: list[str] = Field(alias="ip-addresses", min_length=1)

    @field_validator("ip_addresses")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        for address in value:
            ipaddress.ip_address(address)
        return value


_SIMPLE_FORMATS = (
    AccountId,
    EmailId,
    IssSubId,
    OpaqueId,
    PhoneNumberId,
    DidId,
    UriId,
    JwtIdId,
    SamlAssertionIdId,
    IpAddressesId,
)
# Identifiers that may stand inside aliases and complex subjects (no nesting of those two).
Simple = Annotated[Union[_SIMPLE_FORMATS], Field(discriminator="format")]  # noqa: UP007


class AliasesId(_Identifier):
    """Several identifiers of one subject; an alias may not itself be `aliases` (§3.2.8)."""

    format: Literal["aliases"] = "aliases"
    identifiers: list[Simple] = Field(min_length=1)

    @field_validator("identifiers")
    @classmethod
    def _distinct(cls, value: list[Any]) -> list[Any]:
        seen = [item.to_json() for item in value]
        if any(seen[i] in seen[:i] for i in range(len(seen))):
            raise ValueError("identifiers must not repeat")
        return value


class ComplexId(_Identifier):
    """SSF's complex subject: each member a simple identifier, all naming one principal."""

    format: Literal["complex"] = "complex"
    user: Simple | None = None
    device: Simple | None = None
    session: Simple | None = None
    application: Simple | None = None
    tenant: Simple | None = None
    org_unit: Simple | None = None
    group: Simple | None = None

    def members(self) -> dict[str, _Identifier]:
        return {name: getattr(self, name) for name in _COMPLEX_MEMBERS if getattr(self, name)}

    def model_post_init(self, __context: Any) -> None:
        if not self.members():
            raise ValueError("a complex subject needs at least one member")


_COMPLEX_MEMBERS = ("user", "device", "session", "application", "tenant", "org_unit", "group")

SubjectIdentifier = Annotated[
    Union[(*_SIMPLE_FORMATS, AliasesId, ComplexId)],
    Field(discriminator="format"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(SubjectIdentifier)


def _message(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    # A discriminated union puts the format tag before the member: drop tags that lead somewhere.
    path = [part for i, part in enumerate(loc) if not (part in _FORMAT_TAGS and i + 1 < len(loc))]
    where = ".".join(path)
    kind, msg = first["type"], first["msg"].removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        tag = first["input"].get("format") if isinstance(first["input"], dict) else None
        return f"{where + ': ' if where else ''}unknown subject identifier format {tag!r}"
    if kind == "union_tag_not_found":
        return f"{where + ': ' if where else ''}a subject identifier needs a format member"
    if kind == "extra_forbidden":
        return f"{where}: is not a member of this format"
    if kind == "missing":
        return f"{where}: is required"
    return f"{where}: {msg}" if where else msg


_FORMAT_TAGS = frozenset(
    {
        "account",
        "email",
        "iss_sub",
        "opaque",
        "phone_number",
        "did",
        "uri",
        "jwt_id",
        "saml_assertion_id",
        "ip-addresses",
        "aliases",
        "complex",
    }
)


def parse_subject_identifier(value: object) -> Any:
    """Validate a JSON-like value as a subject identifier; raise InvalidSubjectIdentifier."""
    if isinstance(value, _Identifier):
        return value
    if not isinstance(value, dict):
        raise InvalidSubjectIdentifier("a subject identifier must be a JSON object")
    try:
        return _ADAPTER.validate_python(value)
    except ValidationError as exc:
        raise InvalidSubjectIdentifier(_message(exc)) from exc


def _canonical(identifier: _Identifier) -> dict[str, Any]:
    wire = identifier.to_json()
    if isinstance(identifier, EmailId):
        local, _, domain = identifier.email.rpartition("@")
        wire["email"] = f"{local}@{domain.lower()}"  # RFC 9493 §3.2.2.1
    return wire


def subjects_match(a: object, b: object) -> bool:
    """SSF subject matching: simple identifiers by equality; a complex subject's absent members
    are wildcards; an `aliases` subject matches when any of its identifiers does."""
    left, right = parse_subject_identifier(a), parse_subject_identifier(b)
    if isinstance(left, AliasesId):
        return any(subjects_match(item, right) for item in left.identifiers)
    if isinstance(right, AliasesId):
        return any(subjects_match(left, item) for item in right.identifiers)
    if isinstance(left, ComplexId) and isinstance(right, ComplexId):
        mine, theirs = left.members(), right.members()
        return all(
            _canonical(mine[name]) == _canonical(theirs[name]) for name in mine.keys() & theirs
        )
    if isinstance(left, ComplexId) or isinstance(right, ComplexId):
        return False
    return _canonical(left) == _canonical(right)
