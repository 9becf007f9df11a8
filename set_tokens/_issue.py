"""Issuing SETs: build the claim set, sign it with `typ: secevent+jwt` and the key's `kid`.

`issue()` is the safe recipe. `build_claims` and `sign_claims` are its two halves for callers that
sign elsewhere (the hub signs in worker processes from claims dicts and PEM keys).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ._jose import encode
from ._keys import KeySet, SigningKey
from ._subjects import parse_subject_identifier

__all__ = ["SET_TYP", "build_claims", "issue", "sign_claims"]

SET_TYP = "secevent+jwt"  # RFC 8417 §2.3, without "application/"


def build_claims(
    *,
    issuer: str,
    audience: str | Sequence[str] | None,
    event_type: str,
    payload: Mapping[str, Any],
    subject: Any,
    txn: str | None = None,
    toe: int | None = None,
    jti: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One event, no `sub`, no `exp` (SSF 4.1); `iat` in seconds; a fresh `jti` unless given."""
    parsed = parse_subject_identifier(subject)
    # A dict that validates is already the wire form (every format forbids extra members).
    subject_json = dict(subject) if isinstance(subject, dict) else parsed.to_json()
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": int(time.time() if now is None else now),
        "jti": jti or uuid.uuid4().hex,
        "sub_id": subject_json,
        "events": {event_type: dict(payload)},
    }
    if audience is not None:
        claims["aud"] = audience if isinstance(audience, str) else list(audience)
    if txn is not None:
        claims["txn"] = txn
    if toe is not None:
        claims["toe"] = int(toe)
    return claims


def sign_claims(claims: Mapping[str, Any], key: SigningKey) -> str:
    """The compact JWS of a prepared claim set."""
    return encode(claims, key.private_key, key.alg, {"typ": SET_TYP, "kid": key.kid})


def issue(
    *,
    key: SigningKey | KeySet,
    issuer: str,
    audience: str | Sequence[str] | None,
    event_type: str,
    payload: Mapping[str, Any],
    subject: Any,
    txn: str | None = None,
    toe: int | None = None,
    jti: str | None = None,
    now: float | None = None,
) -> str:
    """A signed SET; with a KeySet, signed by its active key at `now`."""
    signer = key.signing_key(now=now) if isinstance(key, KeySet) else key
    claims = build_claims(
        issuer=issuer,
        audience=audience,
        event_type=event_type,
        payload=payload,
        subject=subject,
        txn=txn,
        toe=toe,
        jti=jti,
        now=now,
    )
    return sign_claims(claims, signer)
