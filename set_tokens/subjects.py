"""Subject identifiers (RFC 9493, with the Shared Signals Framework's additions): one model per
format, `parse_subject_identifier` to read one from JSON, `subjects_match` to compare two.

`SubjectIdentifier`, the base of every format, is also at the top of `set_tokens`.
"""

from ._subjects import (
    AccountId,
    AliasesId,
    ComplexId,
    DidId,
    EmailId,
    InvalidSubjectIdentifier,
    IpAddressesId,
    IssSubId,
    JwtIdId,
    OpaqueId,
    PhoneNumberId,
    SamlAssertionIdId,
    SubjectIdentifier,
    UriId,
    parse_subject_identifier,
    subjects_match,
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
