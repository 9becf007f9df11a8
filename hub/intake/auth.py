"""Publisher and subscriber tokens: random bearer strings, stored as SHA-256 digests, compared in
constant time.

A token's scope is a space-separated list of grants: `publish` (every topic) or `publish:NAME`
(one topic) for publishers, `subscribe` or `subscribe:NAME` for subscribers, `admin` for
everything. NAME is a topic's name (`login`), never its URL. A subscriber token also lists the
SET audiences (`aud`) its holder may ask for; without any, only the callback's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from ..errors import Forbidden, Unauthorized
from ..store import Store, Token
from .topic_policy import TOPIC_NAME

__all__ = [
    "SCOPE_FORMS",
    "TOKEN_PREFIX",
    "InvalidAudience",
    "InvalidScope",
    "authenticate",
    "create_token",
    "is_admin",
    "normalize_audiences",
    "normalize_scope",
    "require_scope",
    "scope_covers",
]

TOKEN_PREFIX = "sethub_"  # noqa: S105 (a prefix, not a secret)
TOKEN_BYTES = 32
ADMIN = "admin"
ACTIONS = ("publish", "subscribe")
SCOPE_FORMS = (
    "publish, publish:NAME, subscribe, subscribe:NAME or admin "
    "(NAME a topic name such as login: lowercase letters, digits, . _ -)"
)
MAX_AUDIENCE_LENGTH = 2048


class InvalidScope(ValueError):
    """A scope that names no known grant; the message shows the forms that exist."""


class InvalidAudience(ValueError):
    """An audience a token cannot carry (empty, too long, or with spaces or control
    characters)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _valid_grant(grant: str) -> bool:
    if grant == ADMIN or grant in ACTIONS:
        return True
    action, colon, name = grant.partition(":")
    return bool(colon) and action in ACTIONS and TOPIC_NAME.fullmatch(name) is not None


def normalize_scope(scope: str) -> str:
    """The scope with each grant checked, duplicates dropped; InvalidScope otherwise."""
    grants = list(dict.fromkeys(scope.split()))
    if not grants:
        raise InvalidScope(f"the scope is empty; use {SCOPE_FORMS}")
    for grant in grants:
        if not _valid_grant(grant):
            raise InvalidScope(f"unknown scope {grant!r}{_suggestion(grant)}; use {SCOPE_FORMS}")
    return " ".join(grants)


def _suggestion(grant: str) -> str:
    """`publish:http://hub/topics/login` names a topic by its URL: suggest `publish:login`."""
    action, _, rest = grant.partition(":")
    name = rest.rstrip("/").rpartition("/topics/")[2]
    if action in ACTIONS and "/topics/" in rest and TOPIC_NAME.fullmatch(name):
        return f" (did you mean {action}:{name}?)"
    return ""


def normalize_audiences(audiences: Iterable[str]) -> tuple[str, ...]:
    """The audiences, each checked, duplicates dropped, in the order given."""
    found = tuple(dict.fromkeys(audiences))
    for audience in found:
        if not 0 < len(audience) <= MAX_AUDIENCE_LENGTH:
            raise InvalidAudience(f"an audience must be 1 to {MAX_AUDIENCE_LENGTH} characters")
        if any(ch.isspace() or not ch.isprintable() for ch in audience):
            raise InvalidAudience(f"audience {audience!r} contains spaces or control characters")
    return found


async def create_token(
    store: Store,
    *,
    scope: str,
    label: str | None,
    now: float,
    audiences: Iterable[str] = (),
) -> str:
    """Mint a token and store its digest. The token itself exists only in the return value."""
    checked_scope, checked_audiences = normalize_scope(scope), normalize_audiences(audiences)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    await store.tokens.add(
        digest=_digest(token),
        scope=checked_scope,
        label=label,
        now=now,
        audiences=checked_audiences,
    )
    return token


def scope_covers(granted: str, action: str, topic: str | None = None) -> bool:
    scopes = set(granted.split())
    if ADMIN in scopes or action in scopes:
        return True
    return topic is not None and f"{action}:{topic}" in scopes


def is_admin(token: Token) -> bool:
    return ADMIN in token.scope.split()


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
    if not presented.isascii():  # tokens are ASCII; aiohttp passes odd bytes on as surrogates
        raise Unauthorized("the bearer token is not valid")
    digest = _digest(presented)
    found = await store.tokens.find(digest)
    if found is None or not hmac.compare_digest(found[0], digest):
        raise Unauthorized("the bearer token is not valid")
    token = found[1]
    if action is not None:
        require_scope(token, action, topic)
    return token
