"""Every rejection the verifier makes, each with its exact RFC 8935 error code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from set_tokens import (
    ConfigurationError,
    InvalidAudience,
    InvalidIssuer,
    InvalidKey,
    InvalidRequest,
    ReplayedToken,
    SetError,
    SigningKey,
    StaticJwks,
    Verifier,
)
from set_tokens.events import CAEP_BASE
from set_tokens.lowlevel import build_claims

ISSUER, AUDIENCE = "https://idp.example/", "https://rp.example/"
KEY = SigningKey.generate("ES256")
OTHER = SigningKey.generate("ES256")
RSA = SigningKey.generate("RS256")


def claims(**changes: Any) -> dict[str, Any]:
    base = build_claims(issuer=ISSUER, audience=AUDIENCE, event_type=CAEP_BASE + "session-revoked",
                        payload={}, subject={"format": "opaque", "id": "u1"}, txn="t")
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def signed(body: dict[str, Any], *, key: SigningKey = KEY, **header: Any) -> str:
    headers = {"typ": "secevent+jwt", "kid": key.kid, **header}
    return jwt.encode(body, key.private_key, algorithm=key.alg, headers=headers)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def verifier(**overrides: Any) -> Verifier:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE,
                               "algorithms": ["ES256", "RS256"],
                               "jwks": StaticJwks([KEY, RSA])}
    options.update(overrides)
    return Verifier(**options)


def hmac_with_public_key() -> str:
    """The key-confusion attack: an HS256 "signature" keyed with the RSA public key PEM."""
    public_pem = RSA.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "typ": "secevent+jwt", "kid": RSA.kid})
    payload = b64(claims())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def tampered_signature() -> str:
    token = signed(claims())
    head, _body, signature = token.split(".")
    return f"{head}.{b64({**claims(), 'iss': ISSUER})}.{signature}"


CASES: list[tuple[str, Callable[[], str], type[SetError], str]] = [
    ("malformed JWS", lambda: "not.a-jws", InvalidRequest, "invalid_request"),
    ("two segments", lambda: "abc.def", InvalidRequest, "invalid_request"),
    ("alg none", lambda: f"{b64({'alg': 'none', 'typ': 'secevent+jwt'})}.{b64(claims())}.",
     InvalidKey, "invalid_key"),
    ("HMAC key confusion", hmac_with_public_key, InvalidKey, "invalid_key"),
    ("algorithm not allowed", lambda: signed(claims(), key=SigningKey.generate("EdDSA")),
     InvalidKey, "invalid_key"),
    ("bad signature", tampered_signature, InvalidKey, "invalid_key"),
    ("unknown kid", lambda: signed(claims(), key=OTHER), InvalidKey, "invalid_key"),
    ("wrong iss", lambda: signed(claims(iss="https://evil.example/")), InvalidIssuer,
     "invalid_issuer"),
    ("wrong aud", lambda: signed(claims(aud="https://other.example/")), InvalidAudience,
     "invalid_audience"),
    ("missing aud", lambda: signed(claims(aud=...)), InvalidAudience, "invalid_audience"),
    ("typ not secevent+jwt", lambda: signed(claims(), typ="JWT"), InvalidRequest,
     "invalid_request"),
    ("exp present", lambda: signed(claims(exp=int(time.time()) + 60)), InvalidRequest,
     "invalid_request"),
    ("sub present", lambda: signed(claims(sub="jane")), InvalidRequest, "invalid_request"),
    ("iat in the future", lambda: signed(claims(iat=int(time.time()) + 3600)), InvalidRequest,
     "invalid_request"),
    ("older than max_age (3 days)", lambda: signed(claims(iat=int(time.time()) - 4 * 86400)),
     InvalidRequest, "invalid_request"),
    ("iat 1", lambda: signed(claims(iat=1)), InvalidRequest, "invalid_request"),
    ("nbf in the future", lambda: signed(claims(nbf=int(time.time()) + 3600)), InvalidRequest,
     "invalid_request"),
    ("nbf not a number", lambda: signed(claims(nbf="soon")), InvalidRequest, "invalid_request"),
    ("missing jti", lambda: signed(claims(jti=...)), InvalidRequest, "invalid_request"),
    ("missing iat", lambda: signed(claims(iat=...)), InvalidRequest, "invalid_request"),
    ("missing events", lambda: signed(claims(events=...)), InvalidRequest, "invalid_request"),
    ("two events", lambda: signed(claims(events={CAEP_BASE + "session-revoked": {},
                                                 CAEP_BASE + "session-presented": {}})),
     InvalidRequest, "invalid_request"),
    ("event not an object", lambda: signed(claims(events={CAEP_BASE + "session-revoked": 1})),
     InvalidRequest, "invalid_request"),
    ("payload not matching its event", lambda: signed(claims(events={
        CAEP_BASE + "credential-change": {"credential_type": "password"}})),
     InvalidRequest, "invalid_request"),
    ("invalid sub_id", lambda: signed(claims(sub_id={"format": "email", "email": "x"})),
     InvalidRequest, "invalid_request"),
]


@pytest.mark.parametrize(("name", "make", "error", "code"), CASES, ids=[c[0] for c in CASES])
async def test_rejection(name: str, make: Callable[[], str], error: type[SetError],
                         code: str) -> None:
    with pytest.raises(error) as refused:
        await verifier().verify(make())
    assert refused.value.err == code
    assert refused.value.to_json() == {"err": code, "description": refused.value.description}


async def test_verify_records_nothing_and_an_accepted_jti_is_refused() -> None:
    """verify() twice gives the same answer (repro verify_twice.py); accept() records the jti,
    and from then on the SET is a replay, for verify() and for a second accept()."""
    check = verifier()
    token = signed(claims())
    first = await check.verify(token)
    second = await check.verify(token)
    assert first.claims == second.claims
    check.accept(first)
    with pytest.raises(ReplayedToken) as refused:
        await check.verify(token)
    assert refused.value.err == "invalid_request"
    with pytest.raises(ReplayedToken):
        check.accept(second)  # a concurrent delivery of the same SET
    check.forget(first)  # acting on it failed: the transmitter's retry is accepted
    check.accept(await check.verify(token))


async def test_an_accepted_jti_is_remembered_until_the_set_is_too_old_anyway() -> None:
    check = verifier(max_age=3600, max_clock_skew=60)
    now = time.time()
    verified = await check.verify(signed(claims(iat=int(now))), now=now)
    assert check.replay_expiry(verified.claims) == int(now) + 3600 + 60
    check.accept(verified, now=now)
    assert check.replay_cache.seen(f"{ISSUER}\x00{verified.claims.jti}", now=int(now) + 3659)
    assert not check.replay_cache.seen(f"{ISSUER}\x00{verified.claims.jti}", now=int(now) + 3660)


async def test_unknown_events_are_named_by_their_uri() -> None:
    verified = await verifier().verify(signed(claims(events={"https://example.com/x": {}})))
    assert not verified.event_type.known and verified.event_name == "https://example.com/x"


async def test_skew_is_tolerated_up_to_the_limit() -> None:
    now = time.time()
    await verifier(max_clock_skew=120).verify(signed(claims(iat=int(now) + 100)), now=now)
    await verifier(max_clock_skew=120).verify(signed(claims(nbf=int(now) + 100)), now=now)


async def test_max_age_is_the_receivers_choice() -> None:
    now = time.time()
    old = signed(claims(iat=int(now) - 2 * 3600))
    await verifier().verify(old, now=now)  # the 3-day default lets it through
    with pytest.raises(InvalidRequest, match="older"):
        await verifier(max_age=3600).verify(old, now=now)
    await verifier(max_age=3600, max_clock_skew=3700).verify(old, now=now)  # skew counts too
    with pytest.raises(ConfigurationError):
        verifier(max_age=0)


def test_no_algorithm_allow_list_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        verifier(algorithms=[])
    with pytest.raises(ConfigurationError):
        verifier(algorithms=["HS256"])
