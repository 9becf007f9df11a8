"""The compact JWS that set_tokens signs and verifies with: pyjwt's, plus RFC 9864's `Ed25519`.

RFC 9864 deprecates the polymorphic `EdDSA` identifier (the curve is left to the key) in favour
of fully specified ones, `Ed25519` among them. pyjwt 2.15 knows only `EdDSA`. This module
registers `Ed25519` on a JWS object of its own, restricted to Ed25519 keys, so pyjwt's global
registry stays as every other user of pyjwt in the process expects it.

The claims are JSON-encoded here exactly as `jwt.encode` does (compact separators), and a
payload that is not a JSON object is a `jwt.DecodeError`, as in `jwt.decode`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

__all__ = ["ED25519", "decode", "encode"]

ED25519 = "Ed25519"


class _Ed25519Algorithm(OKPAlgorithm):
    """pyjwt's EdDSA, with the key types narrowed to the one curve the identifier names."""

    _crypto_key_types = (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)


_JWS = jwt.PyJWS()
_JWS.register_algorithm(ED25519, _Ed25519Algorithm())


def encode(claims: Mapping[str, Any], key: Any, alg: str, headers: dict[str, Any]) -> str:
    payload = json.dumps(dict(claims), separators=(",", ":")).encode()
    return _JWS.encode(payload, key, algorithm=alg, headers=headers)


def decode(token: str, key: Any, alg: str) -> dict[str, Any]:
    """The claims of `token` once its signature verifies with `key` under `alg` (the only
    algorithm allowed); pyjwt's errors pass through."""
    payload = _JWS.decode(token, key, algorithms=[alg])
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise jwt.DecodeError(f"the payload is not JSON: {exc}") from exc
    if not isinstance(claims, dict):
        raise jwt.DecodeError("the payload is not a JSON object")
    return claims
