"""Publisher tokens: random bearer strings, stored as SHA-256 digests, compared in constant time.

A token's scope is a space-separated list: `publish` covers every topic, `publish:NAME` one topic,
`admin` everything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..errors import Forbidden, Unauthorized
from ..store import Store, Token

__all__ = ["TOKEN_PREFIX", "authenticate", "create_token", "require_scope", "scope_covers"]

TOKEN_PREFIX = "sethub_"  # noqa: S105 (a prefix, not a secret)
TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(store: Store, *, scope: str, label: str | None, now: float) -> str:
    """Mint a token and store its digest. The token itself exists only in the return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    await store.tokens.add(digest=_digest(token), scope=scope, label=label, now=now)
    return token


def scope_covers(granted: str, action: str, topic: str | None = None) -> bool:
    scopes = set(granted.split())
    if "admin" in scopes or action in scopes:
        return True
    return topic is not None and f"{action}:{topic}" in scopes


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    token = value.strip()
    if not token.isascii():  # aiohttp hands over header bytes that are not UTF-8 as surrogates
        raise Unauthorized("the bearer token is not valid")
    return token


def require_scope(token: Token, action: str, topic: str | None = None) -> None:
    if not scope_covers(token.scope, action, topic):
        what = f"{action} on topic {topic}" if topic else action
        raise Forbidden(f"the token's scope does not allow {what}")


async def authenticate(
    store: Store, authorization: str | None, *, action: str | None, topic: str | None = None
) -> Token:
    """The token named by an `Authorization: Bearer` header, if it may do `action` on `topic`
    (with `action` None the scope is left to the caller: see `require_scope`)."""
    presented = bearer_token(authorization)
    if presented is None:
        raise Unauthorized("a bearer token is required")
    digest = _digest(presented)
    found = await store.tokens.find(digest)
    if found is None or not hmac.compare_digest(found[0], digest):
        raise Unauthorized("the bearer token is not valid")
    token = found[1]
    if action is not None:
        require_scope(token, action, topic)
    return token
