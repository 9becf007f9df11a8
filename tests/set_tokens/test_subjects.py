"""RFC 9493 subject identifiers and SSF's additions: every format, every rejection, matching."""

from __future__ import annotations

from typing import Any

import pytest

from set_tokens.subjects import InvalidSubjectIdentifier, parse_subject_identifier, subjects_match

VALID = [
    {"format": "account", "uri": "acct:example.user@service.example.com"},
    {"format": "email", "email": "user@example.com"},
    {"format": "iss_sub", "iss": "http://issuer.example.com/", "sub": "145234573"},
    {"format": "opaque", "id": "11112222333344445555"},
    {"format": "phone_number", "phone_number": "+12065550100"},
    {"format": "did", "url": "did:example:123456"},
    {"format": "uri", "uri": "https://user.example.com/"},
    {"format": "aliases", "identifiers": [
        {"format": "email", "email": "user@example.com"},
        {"format": "phone_number", "phone_number": "+12065550100"}]},
    {"format": "jwt_id", "iss": "https://idp.example/", "jti": "abc"},
    {"format": "saml_assertion_id", "issuer": "https://idp.example/", "assertion_id": "a1"},
    {"format": "ip-addresses", "ip-addresses": ["10.29.37.75", "2001:db8::1"]},
    {"format": "complex",
     "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/",
              "sub": "jane.smith@example.com"},
     "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
     "tenant": {"format": "opaque", "id": "123456789"}},
]


@pytest.mark.parametrize("value", VALID, ids=lambda v: v["format"])
def test_valid_identifiers_round_trip(value: dict[str, Any]) -> None:
    assert parse_subject_identifier(value).to_json() == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"format": "email"}, "email: is required"),
        ({"format": "email", "email": "a@b.example", "extra": 1}, "extra: is not a member"),
        ({"format": "email", "email": "not-an-email"}, "email: not an email address"),
        ({"format": "email", "email": "a@@b.example"}, "email: not an email address"),
        ({"format": "phone_number", "phone_number": "2065550100"}, "phone_number: not an E.164"),
        ({"format": "phone_number", "phone_number": "+0123"}, "phone_number: not an E.164"),
        ({"format": "uri", "uri": "relative/path"}, "uri: not an absolute URI"),
        ({"format": "account", "uri": "mailto:a@b.example"}, "uri: must be an acct: URI"),
        ({"format": "did", "url": "https://example.com"}, "url: not a DID URL"),
        ({"format": "iss_sub", "iss": "", "sub": "x"}, "iss:"),
        ({"format": "aliases", "identifiers": []}, "identifiers:"),
        ({"format": "aliases", "identifiers": [
            {"format": "aliases", "identifiers": [{"format": "opaque", "id": "x"}]}]},
         "unknown subject identifier format 'aliases'"),
        ({"format": "aliases", "identifiers": [{"format": "opaque", "id": "x"},
                                               {"format": "opaque", "id": "x"}]},
         "must not repeat"),
        ({"format": "complex"}, "at least one member"),
        ({"format": "complex", "printer": {"format": "opaque", "id": "x"}}, "printer: is not"),
        ({"format": "complex", "user": {"format": "complex",
                                        "user": {"format": "opaque", "id": "x"}}},
         "unknown subject identifier format 'complex'"),
        ({"format": "ip-addresses", "ip-addresses": ["999.1.1.1"]}, "ip-addresses"),
        ({"format": "spaceship", "id": "x"}, "unknown subject identifier format 'spaceship'"),
        ({"id": "x"}, "needs a format member"),
        ("user@example.com", "must be a JSON object"),
    ],
)
def test_invalid_identifiers_name_the_problem(value: Any, message: str) -> None:
    with pytest.raises(InvalidSubjectIdentifier, match=None) as refused:
        parse_subject_identifier(value)
    assert message in str(refused.value)


def test_matching_simple_complex_and_aliases() -> None:
    jane = {"format": "email", "email": "jane@Example.COM"}
    assert subjects_match(jane, {"format": "email", "email": "jane@example.com"})
    assert not subjects_match(jane, {"format": "email", "email": "JANE@example.com"})
    user = {"format": "opaque", "id": "u1"}
    session = {"format": "opaque", "id": "s1"}
    both = {"format": "complex", "user": user, "session": session}
    assert subjects_match(both, {"format": "complex", "user": user})  # absent = wildcard
    assert not subjects_match(both, {"format": "complex", "user": user,
                                     "session": {"format": "opaque", "id": "s2"}})
    aliases = {"format": "aliases", "identifiers": [jane, {"format": "opaque", "id": "j"}]}
    assert subjects_match(aliases, {"format": "opaque", "id": "j"})
    assert not subjects_match(user, both)
