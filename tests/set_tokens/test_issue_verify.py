"""SETs issued for every algorithm verify under our Verifier and two independent JOSE libraries."""

from __future__ import annotations

import json
import os
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import jwt
import pytest
from joserfc import jwk as joserfc_jwk
from joserfc import jws as joserfc_jws
from joserfc import jwt as joserfc_jwt
from joserfc.errors import SecurityWarning
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from set_tokens import (
    ALGORITHMS,
    ConfigurationError,
    InvalidKey,
    KeySet,
    SigningKey,
    StaticJwks,
    Verifier,
    issue,
)
from set_tokens.events import CAEP_BASE
from set_tokens.lowlevel import jwk_thumbprint

SESSION_REVOKED = CAEP_BASE + "session-revoked"
SUBJECT = {"format": "iss_sub", "iss": "https://idp.example.com/123456789/",
           "sub": "jane.smith@example.com"}
PAYLOAD = {"initiating_entity": "policy", "reason_admin": {"en": "Landspeed Policy Violation"},
           "event_timestamp": 1615304991}


def _issue(key: SigningKey | KeySet, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "key": key, "issuer": "https://idp.example.com/", "audience": "https://sp.example.com/",
        "event_type": SESSION_REVOKED, "payload": PAYLOAD, "subject": SUBJECT, "txn": "8675309",
        "toe": 1615304990,
    }
    values.update(overrides)
    return issue(**values)


@pytest.fixture(scope="module", params=ALGORITHMS)
def key(request: pytest.FixtureRequest) -> SigningKey:
    return SigningKey.generate(request.param)


async def test_issued_set_verifies_everywhere(key: SigningKey) -> None:
    token = _issue(key)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": key.alg, "kid": key.kid, "typ": "secevent+jwt"}
    jwks = {"keys": [key.public_jwk()]}

    verified = await Verifier(issuer="https://idp.example.com/",
                              audience="https://sp.example.com/", algorithms=[key.alg],
                              jwks=StaticJwks(jwks)).verify(token)
    assert verified.event_type is not None and verified.event_type.name == "session-revoked"
    assert verified.payload.model_dump(exclude_none=True) == PAYLOAD

    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    by_jwcrypto = json.loads(jwcrypto_jwt.JWT(jwt=token, key=keyset, algs=[key.alg],
                                              expected_type="JWS",
                                              check_claims={"jti": None}).claims)

    joserfc_keys = joserfc_jwk.KeySet.import_key_set(jwks)
    with warnings.catch_warnings():
        if key.alg == "EdDSA":
            # joserfc warns that RFC 9864 deprecates the name EdDSA. We still issue it for keys
            # generated as EdDSA (their receivers allow-list that name); new keys can say
            # Ed25519, which the Ed25519 case checks joserfc accepts without a warning.
            warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        by_joserfc = joserfc_jwt.decode(token, joserfc_keys, algorithms=[key.alg])
    assert by_joserfc.header["typ"] == "secevent+jwt"

    for claims in (by_jwcrypto, by_joserfc.claims, verified.claims.to_claims()):
        assert claims["iss"] == "https://idp.example.com/"
        assert claims["aud"] == "https://sp.example.com/"
        assert claims["txn"] == "8675309" and claims["toe"] == 1615304990
        assert claims["sub_id"] == SUBJECT
        assert claims["events"] == {SESSION_REVOKED: PAYLOAD}
        assert "sub" not in claims and "exp" not in claims
        assert isinstance(claims["iat"], int) and abs(claims["iat"] - time.time()) < 5


def test_jti_unique_and_iat_in_seconds(key: SigningKey) -> None:
    tokens = [_issue(key) for _ in range(20)]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    assert len({c["jti"] for c in claims}) == 20
    assert all(c["iat"] < 10**10 for c in claims)  # seconds, not milliseconds
    fixed = jwt.decode(_issue(key, now=1700000000.9, jti="j-1"),
                       options={"verify_signature": False})
    assert (fixed["iat"], fixed["jti"]) == (1700000000, "j-1")


def test_an_id_token_validator_refuses_our_set(key: SigningKey) -> None:
    """RFC 8417 §4.1: without `exp` a SET cannot pass as an ID token."""
    if key.alg == "Ed25519":
        pytest.skip("pyjwt 2.15, the ID token validator here, has no Ed25519 (RFC 9864)")
    public = jwt.PyJWK(key.public_jwk()).key
    with pytest.raises(jwt.MissingRequiredClaimError):
        jwt.decode(_issue(key), public, algorithms=[key.alg], audience="https://sp.example.com/",
                   options={"require": ["exp", "sub"]})


def test_rfc7638_thumbprint_example() -> None:
    jwk = {
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L"
             "6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5"
             "v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08"
             "qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8aw"
             "apJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_kid_is_the_thumbprint_and_jwks_has_no_private_parts(key: SigningKey) -> None:
    jwk = key.public_jwk()
    assert key.kid == jwk_thumbprint(jwk)
    assert jwk["use"] == "sig" and jwk["alg"] == key.alg
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    assert "PRIVATE" not in repr(key)


def test_pem_round_trip_and_file_modes(tmp_path: Path) -> None:
    keys = KeySet.with_new_key("RS256", bits=3072)
    keys.save(tmp_path / "keys")
    (pem,) = (tmp_path / "keys").glob("*.pem")
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    loaded = KeySet.load(tmp_path / "keys")
    assert loaded.signing_key().kid == keys.signing_key().kid
    assert loaded.signing_key().private_key.key_size == 3072
    with pytest.raises(ConfigurationError):
        SigningKey.from_pem(b"not a key", "RS256")
    with pytest.raises(ConfigurationError, match="cannot sign"):
        SigningKey.from_pem(loaded.signing_key().private_pem(), "ES256")
    with pytest.raises(ConfigurationError, match="2048"):
        SigningKey.generate("RS256", bits=1024)


def test_rotation_publishes_first_then_activates_then_retires() -> None:
    keys = KeySet.with_new_key("ES256", now=1000)
    old = keys.signing_key(now=1000)
    new = keys.rotate(grace=60, now=1000)
    assert {k["kid"] for k in keys.jwks(now=1000)["keys"]} == {old.kid, new.kid}  # published
    assert keys.signing_key(now=1059).kid == old.kid  # not yet signing
    assert keys.signing_key(now=1060).kid == new.kid  # after the grace period
    assert {k["kid"] for k in keys.jwks(now=2000)["keys"]} == {old.kid, new.kid}  # old stays
    with pytest.raises(ConfigurationError):
        keys.retire(new.kid)  # the active key cannot go
    keys.retire(old.kid)
    assert [k["kid"] for k in keys.jwks(now=2000)["keys"]] == [new.kid]


async def test_ed25519_sets_from_another_library_verify_and_the_names_do_not_mix() -> None:
    """RFC 9864: `Ed25519` is accepted as well as `EdDSA`; a key says which one it signs under."""
    key = SigningKey.generate("Ed25519")
    jwk = key.public_jwk()
    assert jwk["alg"] == "Ed25519" and jwk["crv"] == "Ed25519"
    claims = {"iss": "https://idp.example.com/", "aud": "https://sp.example.com/",
              "iat": int(time.time()), "jti": "j1", "sub_id": SUBJECT,
              "events": {SESSION_REVOKED: PAYLOAD}}
    private = joserfc_jwk.OKPKey.import_key(key.private_pem())
    with warnings.catch_warnings():
        warnings.simplefilter("error", SecurityWarning)  # the RFC 9864 name draws no warning
        foreign = joserfc_jws.serialize_compact(
            {"alg": "Ed25519", "typ": "secevent+jwt", "kid": key.kid},
            json.dumps(claims).encode(), private, algorithms=["Ed25519"])

    def verifier(algorithms: list[str], keys: list[dict[str, Any]]) -> Verifier:
        return Verifier(issuer="https://idp.example.com/", audience="https://sp.example.com/",
                        algorithms=algorithms, jwks=StaticJwks({"keys": keys}))

    verified = await verifier(["Ed25519"], [jwk]).verify(foreign)
    assert verified.header["alg"] == "Ed25519" and verified.claims.jti == "j1"
    with pytest.raises(InvalidKey):  # an allow-list that names only EdDSA refuses Ed25519
        await verifier(["EdDSA"], [jwk]).verify(foreign)
    as_eddsa = {**jwk, "alg": "EdDSA"}
    with pytest.raises(InvalidKey):  # a key published as EdDSA does not verify Ed25519 SETs
        await verifier(["EdDSA", "Ed25519"], [as_eddsa]).verify(foreign)
    ed448 = joserfc_jwk.OKPKey.generate_key("Ed448").as_dict(private=False)
    with pytest.raises(InvalidKey):  # Ed25519 names one curve: an Ed448 key is not it
        await verifier(["Ed25519"], [{**ed448, "alg": "Ed25519", "kid": key.kid}]).verify(foreign)
