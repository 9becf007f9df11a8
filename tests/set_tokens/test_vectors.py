"""RFC 8417's example claim sets and CAEP's examples, checked against the SSF profile."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from set_tokens import SigningKey, StaticJwks, Verifier
from set_tokens.events import CAEP_BASE
from set_tokens.lowlevel import SecurityEventToken, sign_claims

RFC8417_FIG1 = {
    "iss": "https://scim.example.com", "iat": 1458496025, "jti": "3d0c3cf797584bd193bd0fb1bd4e7d30",
    "aud": ["https://jhub.example.com/Feeds/98d52461fa5bbc879593b7754",
            "https://jhub.example.com/Feeds/5d7604516b1d08641d7676ee7"],
    "sub": "https://scim.example.com/Users/44f6142df96bd6ab61e7521d9",
    "events": {"urn:ietf:params:scim:event:passwordReset": {"id": "44f6142df96bd6ab61e7521d9"},
               "https://example.com/scim/event/passwordResetExt": {"resetAttempts": 5}},
}
RFC8417_FIG2 = {
    "iss": "https://server.example.com", "sub": "248289761001", "aud": "s6BhdRkqt3",
    "iat": 1471566154, "jti": "bWJq", "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
    "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
}
RFC8417_FIG3 = {
    "iss": "https://my.med.example.org", "iat": 1458496025,
    "jti": "fb4e75b5411e4e19b6c0fe87950f7749", "aud": ["https://rp.example.com"],
    "events": {"https://openid.net/heart/specs/consent.html": {
        "iss": "https://connect.example.com", "sub": "248289761001",
        "consentUri": ["https://terms.med.example.org/labdisclosure.html#Agree"]}},
}
# RFC 8417 figure 6: the unsecured SCIM create SET, byte for byte (payload as the RFC encodes it).
FIG6_HEADER = "eyJ0eXAiOiJzZWNldmVudCtqd3QiLCJhbGciOiJub25lIn0"
CAEP_CREDENTIAL_CHANGE = {
    "iss": "https://idp.example.com/3456789/", "jti": "07efd930f0977e4fcc1149a733ce7f78",
    "iat": 1615305159, "aud": "https://sp.example2.net/caep", "txn": "8675309",
    "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/3456789/",
               "sub": "jane.smith@example.com"},
    "events": {CAEP_BASE + "credential-change": {
        "credential_type": "fido2-roaming", "change_type": "create",
        "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
        "friendly_name": "Jane's USB authenticator", "initiating_entity": "user",
        "reason_admin": {"en": "User self-enrollment"}, "event_timestamp": 1615304991}},
}
CAEP_SESSION_REVOKED = {  # CAEP 1.0 "Session Revoked" example with a complex subject
    "iss": "https://idp.example.com/123456789/", "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159, "aud": "https://sp.example.com/caep",
    "sub_id": {"format": "complex",
               "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
               "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/",
                        "sub": "dMTlD|1600802906337.16|16008.16"},
               "tenant": {"format": "opaque", "id": "123456789"}},
    "events": {CAEP_BASE + "session-revoked": {
        "initiating_entity": "policy",
        "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
        "reason_user": {"en": "Access attempt from multiple regions.",
                        "es-410": "Intento de acceso desde varias regiones."},
        "event_timestamp": 1615304991}},
}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [(RFC8417_FIG1, "'sub' claim must not be present"),
     (RFC8417_FIG2, "'sub' claim must not be present"),
     (RFC8417_FIG3, "sub_id")],
)
def test_rfc8417_examples_predate_the_ssf_profile(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SecurityEventToken.model_validate(claims)
    assert reason in str(refused.value)


def test_rfc8417_figure1_two_events_are_refused_even_without_sub() -> None:
    claims = {k: v for k, v in RFC8417_FIG1.items() if k != "sub"}
    claims["sub_id"] = {"format": "uri", "uri": RFC8417_FIG1["sub"]}
    with pytest.raises(ValidationError, match="exactly one event"):
        SecurityEventToken.model_validate(claims)


def test_rfc8417_figure6_header_encoding() -> None:
    header = json.loads(base64.urlsafe_b64decode(FIG6_HEADER + "=="))
    assert header == {"typ": "secevent+jwt", "alg": "none"}


@pytest.mark.parametrize("example", [CAEP_CREDENTIAL_CHANGE, CAEP_SESSION_REVOKED],
                         ids=["credential-change", "session-revoked"])
async def test_caep_examples_sign_and_verify(example: dict[str, Any]) -> None:
    parsed = SecurityEventToken.model_validate(example)
    assert parsed.to_claims() == example
    key = SigningKey.generate("RS256")
    verified = await Verifier(issuer=example["iss"], audience=example["aud"],
                              algorithms=["RS256"], jwks=StaticJwks([key])).verify(
        sign_claims(example, key), now=1615305160)
    assert verified.claims.to_claims() == example
    assert verified.event_type is not None
    assert verified.payload.model_dump(exclude_none=True, by_alias=True) == next(
        iter(example["events"].values()))
