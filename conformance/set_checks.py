"""SET checks, for hubs that deliver identity events as Security Event Tokens.

References: RFC 8417 (SET), RFC 8935 (push delivery), RFC 9493 (subject identifiers), OpenID
SSF 1.0 §4.1 (the SET profile) and CAEP 1.0. Signatures are checked with jwcrypto, a JOSE library
independent of whatever the hub uses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from .harness import Callback, Delivery, eventually
from .runner import CheckFailed, Context, Skipped, check

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
AUDIENCE_PARAMETER = "sethub.audience"
# The audiences the checks ask for: a hub that binds audiences to subscriber tokens (sethub) must
# allow these to the --subscriber-token.
CLAIMS_AUDIENCE = "https://conformance.example/receiver"
TXN_AUDIENCES = ("https://a.conformance.example", "https://b.conformance.example")
AUDIENCES = (CLAIMS_AUDIENCE, *TXN_AUDIENCES)
SESSION_REVOKED = {
    "type": CAEP + "session-revoked",
    "subject": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "conformance"},
    "data": {
        "initiating_entity": "policy",
        "reason_admin": {"en": "conformance suite"},
        "event_timestamp": 1615304991,
    },
}
CREDENTIAL_CHANGE = {
    "type": CAEP + "credential-change",
    "subject": {"format": "email", "email": "conformance@example.com"},
    "data": {"credential_type": "password", "change_type": "update"},
}
# RFC 9493 §3 and SSF: the members each format requires.
SUBJECT_FORMATS = {
    "account": {"uri"},
    "email": {"email"},
    "iss_sub": {"iss", "sub"},
    "opaque": {"id"},
    "phone_number": {"phone_number"},
    "did": {"url"},
    "uri": {"uri"},
    "aliases": {"identifiers"},
    "jwt_id": {"iss", "jti"},
    "saml_assertion_id": {"issuer", "assertion_id"},
    "ip-addresses": {"ip-addresses"},
    "complex": set(),
}
CAEP_REQUIRED = {
    CAEP + "credential-change": {"credential_type", "change_type"},
    CAEP + "token-claims-change": {"claims"},
    CAEP + "assurance-level-change": {"namespace", "current_level"},
    CAEP + "device-compliance-change": {"previous_status", "current_status"},
    CAEP + "risk-level-change": {"principal", "current_level"},
}
CLOCK_SKEW = 60


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def header_of(delivery: Delivery) -> dict[str, Any]:
    return _segment(delivery.body.decode("ascii", "replace"), 0)


def claims_of(delivery: Delivery) -> dict[str, Any]:
    return _segment(delivery.body.decode("ascii", "replace"), 1)


async def _set_topic(ctx: Context) -> str:
    if not ctx.set_topic or not ctx.events_url:
        raise Skipped("hub does not publish identity events")
    return ctx.set_topic


def mine(callback: Callback, txn: str) -> list[Delivery]:
    """The deliveries of this check's event (other checks publish on the same topic)."""
    found = []
    for delivery in callback.deliveries:
        try:
            if claims_of(delivery).get("txn") == txn:
                found.append(delivery)
        except ValueError:
            continue
    return found


async def _receive(
    ctx: Context,
    event: dict[str, Any],
    *callbacks: Callback,
    audiences: list[str] | None = None,
    topic: str | None = None,
) -> list[list[Delivery]]:
    """Subscribe each callback (with its audience), publish `event` with a txn of this check's
    own, and return each callback's deliveries of it once there is at least one."""
    topic = topic or await _set_topic(ctx)
    for n, callback in enumerate(callbacks):
        extra = {AUDIENCE_PARAMETER: audiences[n]} if audiences else {}
        status, text = await ctx.subscribe(topic, callback, **extra)
        if status != 202:
            raise Skipped(f"the hub refused a subscription to {topic}: {status} {text[:80]}")
        await ctx.wait_verified(callback)
    txn = f"conformance-{uuid.uuid4().hex}"
    await ctx.publish_event({**event, "txn": txn})
    for callback in callbacks:
        if not await eventually(lambda c=callback: mine(c, txn), timeout=ctx.timeout):
            raise CheckFailed(f"no SET with txn {txn} arrived within {ctx.timeout:g}s")
    return [mine(callback, txn) for callback in callbacks]


async def _jwks(ctx: Context) -> jwcrypto_jwk.JWKSet:
    if not ctx.jwks_url:
        raise Skipped("no JWKS URL for this hub")
    async with ctx.session.get(ctx.jwks_url) as response:
        if response.status != 200:
            raise CheckFailed(f"the JWKS at {ctx.jwks_url} answered {response.status}")
        return jwcrypto_jwk.JWKSet.from_json(await response.text())


@check(
    "set-media-type", "RFC 8935 §2.1", "SETs are POSTed as application/secevent+jwt", group="set"
)
async def media_type(ctx: Context) -> None:
    callback = ctx.harness.callback()
    ((delivery, *_),) = await _receive(ctx, SESSION_REVOKED, callback)
    if delivery.headers.get("Content-Type") != "application/secevent+jwt":
        raise CheckFailed(f"Content-Type is {delivery.headers.get('Content-Type')!r}")
    if "application/json" not in delivery.headers.get("Accept", ""):
        raise CheckFailed("the push request does not Accept application/json (RFC 8935 §2.1)")


@check(
    "set-header-signature",
    "RFC 8417 §2.3, RFC 7515",
    "typ secevent+jwt, a real alg, a kid in the JWKS, and a signature that verifies independently",
    group="set",
)
async def header_and_signature(ctx: Context) -> None:
    callback = ctx.harness.callback()
    ((delivery, *_),) = await _receive(ctx, SESSION_REVOKED, callback)
    token = delivery.body.decode()
    header = header_of(delivery)
    if str(header.get("typ", "")).lower() not in ("secevent+jwt", "application/secevent+jwt"):
        raise CheckFailed(f"JOSE typ is {header.get('typ')!r}")
    if str(header.get("alg", "none")).lower() == "none" or header.get("alg", "").startswith("HS"):
        raise CheckFailed(f"alg {header.get('alg')!r} is not an asymmetric signature")
    keys = await _jwks(ctx)
    key = keys.get_key(header.get("kid"))
    if key is None:
        raise CheckFailed(f"kid {header.get('kid')!r} is not in the hub's JWKS")
    verifier = jwcrypto_jws.JWS()
    try:
        verifier.deserialize(token)
        verifier.verify(key, alg=header["alg"])
    except jwcrypto_jws.InvalidJWSSignature as exc:
        raise CheckFailed("the signature does not verify with the JWKS key") from exc


@check(
    "set-claims",
    "RFC 8417 §2.2, SSF §4.1",
    "iss, aud as asked, iat not in the future, "
    "no exp, no sub, one event whose value is an object, a valid sub_id",
    group="set",
)
async def claims_profile(ctx: Context) -> None:
    callback = ctx.harness.callback()
    audience = CLAIMS_AUDIENCE
    ((delivery, *_),) = await _receive(ctx, SESSION_REVOKED, callback, audiences=[audience])
    claims = claims_of(delivery)
    if ctx.issuer and claims.get("iss") != ctx.issuer:
        raise CheckFailed(f"iss is {claims.get('iss')!r}, expected {ctx.issuer!r}")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if audiences != [audience]:
        raise CheckFailed(f"aud is {claims.get('aud')!r}, the subscription asked for {audience}")
    iat = claims.get("iat")
    if not isinstance(iat, int) or iat > time.time() + CLOCK_SKEW:
        raise CheckFailed(f"iat {iat!r} is not a NumericDate in seconds, not in the future")
    for forbidden in ("exp", "sub"):
        if forbidden in claims:
            raise CheckFailed(f"the SET carries {forbidden!r} (SSF §4.1 forbids it)")
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        raise CheckFailed("a SET must carry exactly one event")
    if not isinstance(next(iter(events.values())), dict):
        raise CheckFailed("the event's value is not a JSON object")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise CheckFailed("no jti")
    _check_subject(claims.get("sub_id"))


def _check_subject(subject: Any) -> None:
    if not isinstance(subject, dict) or subject.get("format") not in SUBJECT_FORMATS:
        raise CheckFailed(f"sub_id {subject!r} is not an RFC 9493 subject identifier")
    missing = SUBJECT_FORMATS[subject["format"]] - set(subject)
    if missing:
        raise CheckFailed(f"sub_id of format {subject['format']} lacks {sorted(missing)}")


@check(
    "set-txn-jti",
    "RFC 8417 §2.2, SSF §4.1",
    "one event to two subscribers: distinct jti, the same txn",
    group="set",
)
async def txn_and_jti(ctx: Context) -> None:
    first, second = ctx.harness.callback(), ctx.harness.callback()
    await _receive(
        ctx,
        SESSION_REVOKED,
        first,
        second,
        audiences=list(TXN_AUDIENCES),
    )
    a, b = claims_of(first.deliveries[0]), claims_of(second.deliveries[0])
    if a.get("jti") == b.get("jti"):
        raise CheckFailed("two SETs share a jti")
    if not a.get("txn") or a.get("txn") != b.get("txn"):
        raise CheckFailed(f"txn differs or is missing: {a.get('txn')!r} / {b.get('txn')!r}")


@check("set-caep-fields", "CAEP 1.0 §3", "CAEP events carry their required fields", group="set")
async def caep_fields(ctx: Context) -> None:
    # The publisher API's answer names the topic an event goes to: learn it, then subscribe.
    await _set_topic(ctx)
    answer = await ctx.publish_event(CREDENTIAL_CHANGE)
    topic = answer["events"][0]["topic"]
    callback = ctx.harness.callback()
    ((delivery, *_),) = await _receive(ctx, CREDENTIAL_CHANGE, callback, topic=topic)
    events = claims_of(delivery).get("events", {})
    for uri, payload in events.items():
        missing = CAEP_REQUIRED.get(uri, set()) - set(payload)
        if missing:
            raise CheckFailed(f"{uri} lacks {sorted(missing)}")


@check(
    "rfc8935-400-not-retried",
    "RFC 8935 §2.3, §4",
    "a receiver's 400 invalid_audience is not retried",
    group="set",
)
async def rejection_not_retried(ctx: Context) -> None:
    callback = ctx.harness.callback(
        status=400,
        response_headers={"Content-Type": "application/json", "Content-Language": "en"},
        response_body=b'{"err":"invalid_audience","description":"not for this receiver"}',
    )
    ((delivery, *_),) = await _receive(ctx, SESSION_REVOKED, callback)
    await asyncio.sleep(ctx.settle * 4)
    attempts = mine(callback, claims_of(delivery)["txn"])
    if len(attempts) != 1:
        raise CheckFailed(f"{len(attempts)} attempts after an RFC 8935 400")


@check(
    "rfc8935-503-retried",
    "RFC 8935 §4, RFC 8417 §2.2",
    "a 503 is retried with the same SET (same jti)",
    group="set",
)
async def unavailable_retried(ctx: Context) -> None:
    callback = ctx.harness.callback(statuses=[503])
    ((delivery, *_),) = await _receive(ctx, SESSION_REVOKED, callback)
    txn = claims_of(delivery)["txn"]
    if not await eventually(lambda: len(mine(callback, txn)) >= 2, timeout=ctx.patience):
        raise CheckFailed(f"no retry within {ctx.patience:g}s after a 503")
    first, second = (claims_of(d) for d in mine(callback, txn)[:2])
    if first.get("jti") != second.get("jti"):
        raise CheckFailed("the retry carries a different jti: it is not the same SET")
