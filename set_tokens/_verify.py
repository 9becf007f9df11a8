"""Verifying SETs: what a receiver relies on. Every check is on; failures raise with their code.

The algorithm is never chosen by the token: the key found for its `kid` must carry an allowed
algorithm equal to the header's. `alg: none` and HMAC algorithms are refused before any key is
touched (an HMAC "signature" made with a public key is the classic confusion attack).

SETs have no `exp` (SSF 4.1), so age is judged by `iat`: a SET older than `max_age` is refused,
and its jti then no longer needs remembering. Replay protection is two steps. `verify()` refuses a
jti that was accepted before but records nothing, so verifying a token twice gives the same answer
twice. `accept()` records the jti, atomically: of two deliveries of one SET (two connections, two
receiver processes on one `SqliteReplayCache`), exactly one is accepted. A receiver calls it
before acting on the SET, and `forget()` if acting failed and the transmitter will resend;
`make_push_handler` and `WebSubSubscriber` do all of this.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jwt
from pydantic import BaseModel, ValidationError

from ._claims import SecurityEventToken
from ._issue import SET_TYP
from ._jose import ED25519, decode
from ._jwks import JwksSource
from ._keys import ALGORITHMS
from ._replay import ReplayCache, ReplayStore
from .errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidIssuer,
    InvalidKey,
    InvalidRequest,
    KeysUnavailable,
    ReplayedToken,
)
from .events import Catalog, EventType, InvalidEventPayload, default_catalog

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_MAX_AGE",
    "VerifiedSet",
    "Verifier",
    "unverified_header",
]

DEFAULT_CLOCK_SKEW = 60.0
# How old (by `iat`) a SET may be and still be accepted. sethub signs a SET at its first delivery
# attempt and resends that same token on every retry; its default retry schedule spans about 1.95
# days (hub/config.py DEFAULT_RETRY_SCHEDULE, plus jitter), so 3 days lets every retry of a
# default hub through with room to spare, while a captured SET stops being replayable after days,
# not months. A transmitter that retries for longer needs a larger max_age at its receivers.
DEFAULT_MAX_AGE = 3 * 24 * 3600.0
KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP", ED25519: "OKP"}


@dataclass(frozen=True)
class VerifiedSet:
    """A SET that passed every check. `event_type` is never None: for an event URI the catalog
    does not know it is `EventType.unknown(uri)` (`known` False, named by its URI), and `payload`
    is then an `EventPayload` holding every member as sent. So `event_type.name`, `event_name`
    and `payload.model_dump()` work for every verified SET."""

    claims: SecurityEventToken
    header: dict[str, Any]
    event_type: EventType
    payload: BaseModel  # an instance of event_type.payload_model
    token: str = ""  # the compact SET as received: keep it to prove later who said what

    @property
    def event_uri(self) -> str:
        return self.claims.event_uri

    @property
    def event_name(self) -> str:
        """The catalog's short name of the event, or its URI for an event the catalog does not
        know."""
        return self.event_type.name


def _replay_key(claims: SecurityEventToken) -> str:
    return f"{claims.iss}\x00{claims.jti}"


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, parsed but NOT verified (the signature check decodes the whole token)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidRequest("not a compact JWS")
    segment = token.partition(".")[0]
    return dict(_parse_header(segment))


@functools.lru_cache(maxsize=256)
def _parse_header(segment: str) -> dict[str, Any]:
    """One issuer's headers repeat byte for byte: each distinct one is parsed once."""
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidRequest("the JWS header cannot be parsed") from exc
    if not isinstance(header, dict):
        raise InvalidRequest("the JWS header is not a JSON object")
    return header


def _typ_ok(typ: Any) -> bool:
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    return typ in (SET_TYP, "application/" + SET_TYP)


def _check_age(iat: int, *, now: float, max_age: float, skew: float) -> None:
    if iat > now + skew:
        raise InvalidRequest("the SET was issued in the future")
    if iat < now - max_age - skew:
        raise InvalidRequest("the SET is older than this receiver accepts")


def _check_nbf(claims: dict[str, Any], *, now: float, skew: float) -> None:
    """RFC 7519 §4.1.5, if the transmitter sent one (sethub does not)."""
    if "nbf" not in claims:
        return
    nbf = claims["nbf"]
    if isinstance(nbf, bool) or not isinstance(nbf, int | float) or not math.isfinite(nbf):
        raise InvalidRequest("the nbf claim is not a number")
    if nbf > now + skew:
        raise InvalidRequest("the SET is not valid yet (nbf)")


class Verifier:
    """Verifies SETs from one issuer for one receiver; see the module docstring.

    `max_age` (seconds, by `iat`; default `DEFAULT_MAX_AGE`, 3 days, which covers a default
    sethub's whole retry schedule) cannot be turned off: it is what bounds replay. `replay_cache`
    is where accepted jtis are kept: by default in memory (lost on restart); pass a
    `SqliteReplayCache` to keep them across restarts and share them between processes.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Sequence[str],
        jwks: JwksSource,
        max_clock_skew: float = DEFAULT_CLOCK_SKEW,
        replay_cache: ReplayStore | None = None,
        catalog: Catalog | None = None,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        if not (math.isfinite(max_age) and max_age > 0):
            raise ConfigurationError("max_age must be a positive number of seconds")
        if not algorithms:
            raise ConfigurationError("name the allowed algorithms explicitly")
        unsupported = [alg for alg in algorithms if alg not in ALGORITHMS]
        if unsupported:
            raise ConfigurationError(f"unsupported algorithms {unsupported}; use {ALGORITHMS}")
        self.issuer = issuer
        self.audiences = {audience} if isinstance(audience, str) else set(audience)
        self.algorithms = tuple(algorithms)
        self.jwks = jwks
        self.max_clock_skew = max_clock_skew
        self.max_age = max_age
        self.replay_cache: ReplayStore = (
            replay_cache if replay_cache is not None else ReplayCache()
        )
        self.catalog = catalog or default_catalog()
        self._key_objects: dict[tuple[Any, ...], Any] = {}

    async def verify(self, token: str, *, now: float | None = None) -> VerifiedSet:
        """The verified SET, or a `SetError` with its RFC 8935 code (`ReplayedToken` for a jti
        accepted before), or `Unavailable` when the issuer's keys cannot be fetched. Records
        nothing: call `accept()` before acting on the SET."""
        header = unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise InvalidKey("unsigned SETs are not accepted")
        if alg.upper().startswith("HS"):
            raise InvalidKey("symmetric algorithms are not accepted")
        if alg not in self.algorithms:
            raise InvalidKey(f"algorithm {alg} is not accepted")
        if not _typ_ok(header.get("typ")):
            raise InvalidRequest("the JOSE header typ must be secevent+jwt")
        kid = header.get("kid")
        if "kid" in header and not isinstance(kid, str):
            raise InvalidKey("the kid is not a string")
        try:
            jwk = await self.jwks.key(kid)
        except KeysUnavailable:
            raise
        except ConfigurationError as exc:  # a key source of the application's own
            raise KeysUnavailable(f"the issuer's keys cannot be retrieved: {exc}") from exc
        if jwk is None:
            raise InvalidKey("unknown signing key")
        return self._verify_with(token, header, jwk, now=now)

    def _verify_with(
        self, token: str, header: dict[str, Any], jwk: dict[str, Any], *, now: float | None
    ) -> VerifiedSet:
        alg = header["alg"]
        if jwk.get("alg", alg) != alg or jwk.get("kty") != KEY_TYPES[alg]:
            raise InvalidKey("the signing key does not match the algorithm")
        if alg == ED25519 and jwk.get("crv") != ED25519:
            raise InvalidKey("the signing key does not match the algorithm")
        try:
            key = self._key_object(jwk, alg)
            claims = decode(token, key, alg)  # the signature only: claims are checked below
        except jwt.InvalidSignatureError as exc:
            raise InvalidKey("the signature does not verify") from exc
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            raise InvalidKey("the signing key cannot be used") from exc
        except jwt.InvalidTokenError as exc:  # DecodeError, bad crit, a kid that is not a string
            raise InvalidRequest("the SET cannot be decoded") from exc
        verified = self._check_claims(claims, header, now=time.time() if now is None else now)
        return replace(verified, token=token)

    def _key_object(self, jwk: dict[str, Any], alg: str) -> Any:
        """The public key of a JWK, built once per distinct key."""
        identity = (alg, jwk.get("kty"), jwk.get("crv"), jwk.get("n"), jwk.get("e"),
                    jwk.get("x"), jwk.get("y"))
        key = self._key_objects.get(identity)
        if key is None:
            # pyjwt parses an Ed25519 JWK under the name it knows; the crv was checked above.
            parse_as = "EdDSA" if alg == ED25519 else alg
            key = self._key_objects[identity] = jwt.PyJWK(jwk, algorithm=parse_as).key
        return key

    def _check_claims(
        self, claims: dict[str, Any], header: dict[str, Any], *, now: float
    ) -> VerifiedSet:
        for required in ("iss", "iat", "jti", "events"):
            if required not in claims:
                raise InvalidRequest(f"the {required} claim is missing")
        if claims["iss"] != self.issuer:
            raise InvalidIssuer("the issuer is not accepted")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if not isinstance(audiences, list) or not self.audiences.intersection(audiences):
            raise InvalidAudience("this receiver is not an audience of the SET")
        try:
            parsed = SecurityEventToken.model_validate(claims)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise InvalidRequest(f"{where}: {message}" if where else message) from exc
        _check_age(parsed.iat, now=now, max_age=self.max_age, skew=self.max_clock_skew)
        _check_nbf(claims, now=now, skew=self.max_clock_skew)
        event_type, payload = self._event(parsed)
        if self.replay_cache.seen(_replay_key(parsed), now=now):
            raise ReplayedToken("this jti was received before")
        return VerifiedSet(parsed, header, event_type, payload)

    def replay_expiry(self, claims: SecurityEventToken) -> float:
        """When remembering this SET's jti stops mattering: from then on it is too old anyway."""
        return claims.iat + self.max_age + self.max_clock_skew

    def accept(self, verified: VerifiedSet, *, now: float | None = None) -> None:
        """Record the SET's jti before acting on it; `ReplayedToken` if it was accepted already
        (a concurrent delivery of the same SET, or another process sharing the store)."""
        claims = verified.claims
        stamp = time.time() if now is None else now
        if not self.replay_cache.claim(
            _replay_key(claims), expires_at=self.replay_expiry(claims), now=stamp
        ):
            raise ReplayedToken("this jti was received before")

    def forget(self, verified: VerifiedSet) -> None:
        """Accept this SET's jti again: its processing failed and the transmitter will resend."""
        self.replay_cache.forget(_replay_key(verified.claims))

    def _event(self, parsed: SecurityEventToken) -> tuple[EventType, BaseModel]:
        try:
            event_type = self.catalog.by_uri(parsed.event_uri)
        except LookupError:  # unknown events are passed on, not refused
            unknown = EventType.unknown(parsed.event_uri)
            return unknown, unknown.payload_model.model_validate(parsed.event_payload)
        try:
            return event_type, self.catalog.validate_payload(event_type, parsed.event_payload)
        except InvalidEventPayload as exc:
            raise InvalidRequest(f"the event payload does not match its type: {exc}") from exc
