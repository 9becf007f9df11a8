"""What runs inside a signing process, and nothing more: pyjwt and cryptography.

A signing process that imported the hub (or set_tokens, which brings aiohttp and the event
catalog) spent ~1.2 s of CPU starting, on every hub start and every replaced pool; this module
imports in a fraction of that. Keys are parsed once per process and kept by kid.
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

__all__ = ["ready", "sign_batch"]

SET_TYP = "secevent+jwt"  # RFC 8417 §2.3; set_tokens.SET_TYP, which this must not import

_keys: dict[str, Any] = {}


def sign_batch(
    jobs: list[tuple[dict[str, Any], str]], pems: dict[str, tuple[str, bytes]]
) -> list[str]:
    """One compact JWS per (claims, kid); `pems` maps each kid to (alg, PEM private key)."""
    tokens = []
    for claims, kid in jobs:
        key = _keys.get(kid)
        if key is None:
            key = _keys[kid] = serialization.load_pem_private_key(pems[kid][1], password=None)
        tokens.append(
            jwt.encode(claims, key, algorithm=pems[kid][0], headers={"typ": SET_TYP, "kid": kid})
        )
    return tokens


def ready() -> bool:
    """A no-op the pool runs once per process at start-up, so the processes exist early."""
    return True
