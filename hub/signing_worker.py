"""What runs inside a signing process: set_tokens' own signing, in a module a fork server can
preload (see `SetSigner._new_pool`), so a new signing process is a fork, not a fresh import of
the hub. Keys are parsed once per process and kept by kid.
"""

from __future__ import annotations

from typing import Any

from set_tokens import SigningKey, sign_claims

__all__ = ["ready", "sign_batch"]

_keys: dict[str, SigningKey] = {}


def sign_batch(
    jobs: list[tuple[dict[str, Any], str]], pems: dict[str, tuple[str, bytes]]
) -> list[str]:
    """One compact JWS per (claims, kid); `pems` maps each kid to (alg, PEM private key)."""
    tokens = []
    for claims, kid in jobs:
        key = _keys.get(kid)
        if key is None:
            alg, pem = pems[kid]
            key = _keys[kid] = SigningKey.from_pem(pem, alg, kid=kid)
        tokens.append(sign_claims(claims, key))
    return tokens


def ready() -> bool:
    """A no-op the pool runs once per process at start-up, so the processes exist early."""
    return True
