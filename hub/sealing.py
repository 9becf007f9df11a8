"""hub.secret values at rest: stored as given, or sealed with AES-256-GCM under an operator key.

Stored form: b"p" + secret (no key configured) or b"e" + 12-byte nonce + ciphertext. A hub
started without the key refuses sealed secrets, and one started with the wrong key cannot open
them: both are reported at start-up, not at the first delivery.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SealingError", "SecretBox", "parse_key"]

KEY_BYTES = 32
NONCE_BYTES = 12
PLAIN, SEALED = b"p", b"e"
ASSOCIATED_DATA = b"sethub hub.secret v1"


class SealingError(RuntimeError):
    """A stored secret cannot be opened with the configured key (or without one)."""


def parse_key(text: str) -> bytes:
    """A base64 (standard or URL-safe) encoding of exactly 32 random bytes."""
    try:
        key = base64.b64decode(
            text.strip() + "==",
            altchars=b"-_" if "-" in text or "_" in text else None,
            validate=False,
        )
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret key must be base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"the secret key must encode {KEY_BYTES} bytes, not {len(key)}")
    return key


class SecretBox:
    def __init__(self, key: bytes | None = None) -> None:
        self._aead = AESGCM(key) if key is not None else None

    def seal(self, secret: bytes | None) -> bytes | None:
        if secret is None:
            return None
        if self._aead is None:
            return PLAIN + secret
        nonce = os.urandom(NONCE_BYTES)
        return SEALED + nonce + self._aead.encrypt(nonce, secret, ASSOCIATED_DATA)

    def open(self, stored: bytes | None) -> bytes | None:
        if stored is None:
            return None
        marker, rest = stored[:1], stored[1:]
        if marker == PLAIN:
            return rest
        if marker != SEALED:
            raise SealingError("a stored hub.secret has an unknown format")
        if self._aead is None:
            raise SealingError("stored hub.secrets are encrypted: start the hub with its key")
        try:
            return self._aead.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], ASSOCIATED_DATA)
        except InvalidTag as exc:
            raise SealingError("the secret key does not open the stored hub.secrets") from exc
