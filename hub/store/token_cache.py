"""Remembering found tokens for a moment, whatever the database behind the store.

Every publish and every subscription to an identity topic presents a token; a lookup is
remembered FOUND_CACHE_SECONDS. A token revoked through the same store object is forgotten at
once; one revoked elsewhere (`sethub tokens revoke`, another hub node) is refused at most this
long after. Unknown and revoked digests are never remembered.
"""

from __future__ import annotations

import time

from .records import Token

__all__ = ["FOUND_CACHE_SECONDS", "FoundTokens"]

FOUND_CACHE_SECONDS = 1.0
FOUND_CACHE_SIZE = 1024

Found = tuple[str, Token]  # the stored digest, and its token


class FoundTokens:
    def __init__(self) -> None:
        self._found: dict[str, tuple[float, Found]] = {}

    def get(self, digest: str) -> Found | None:
        cached = self._found.get(digest)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        return None

    def put(self, digest: str, found: Found) -> None:
        if len(self._found) >= FOUND_CACHE_SIZE:
            self._found.clear()
        self._found[digest] = (time.monotonic() + FOUND_CACHE_SECONDS, found)

    def forget(self, token_id: int) -> None:
        for digest, (_, (_, token)) in list(self._found.items()):
            if token.id == token_id:
                del self._found[digest]
