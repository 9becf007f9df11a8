"""Mutated tokens against the verifier: each is rejected with an RFC 8935 code, never an
unexpected exception (or, for a mutation that changes nothing that is signed, accepted as is)."""

from __future__ import annotations

import asyncio
import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from set_tokens import ReplayCache, SetError, SigningKey, StaticJwks, Verifier, issue
from set_tokens.events import CAEP_BASE

KEY = SigningKey.generate("ES256")
TOKEN = issue(
    key=KEY,
    issuer="https://idp.example/",
    audience="https://rp.example/",
    event_type=CAEP_BASE + "credential-change",
    payload={"credential_type": "password", "change_type": "update"},
    subject={"format": "email", "email": "jane@example.com"},
    txn="t",
)
CODES = {
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="


# Built once: made inside `mutations`, this recursive strategy was built and validated again at
# every draw, two thirds of the test's time.
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def mutations(draw: st.DrawFn) -> str:
    head, body, signature = TOKEN.split(".")
    kind = draw(st.sampled_from(["flip", "cut", "insert", "segment", "header", "claims", "junk"]))
    if kind == "flip":
        at = draw(st.integers(0, len(TOKEN) - 1))
        return TOKEN[:at] + draw(st.sampled_from(ALPHABET)) + TOKEN[at + 1 :]
    if kind == "cut":
        return TOKEN[: draw(st.integers(0, len(TOKEN) - 1))]
    if kind == "insert":
        at = draw(st.integers(0, len(TOKEN)))
        return TOKEN[:at] + draw(st.text(ALPHABET, min_size=1, max_size=5)) + TOKEN[at:]
    if kind == "segment":
        parts = [head, body, signature]
        return ".".join(draw(st.lists(st.sampled_from([*parts, "", "e30"]), max_size=5)))
    if kind == "header":
        header = json.loads(base64.urlsafe_b64decode(head + "=="))
        header[draw(st.sampled_from(["alg", "kid", "typ", "crit", "jku"]))] = draw(JSON_VALUE)
        return f"{b64(json.dumps(header).encode())}.{body}.{signature}"
    if kind == "claims":
        claims = json.loads(base64.urlsafe_b64decode(body + "=="))
        claims[
            draw(st.sampled_from(["iss", "aud", "iat", "jti", "events", "sub_id", "exp", "sub"]))
        ] = draw(JSON_VALUE)
        return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"
    return draw(st.text(max_size=200))


@settings(max_examples=1500, deadline=None)
@given(token=mutations())
def test_mutated_tokens_are_rejected_with_a_code(token: str) -> None:
    verifier = Verifier(
        issuer="https://idp.example/",
        audience="https://rp.example/",
        algorithms=["ES256"],
        jwks=StaticJwks([KEY]),
        replay_cache=ReplayCache(),
    )
    try:
        verified = asyncio.run(verifier.verify(token))
    except SetError as error:
        assert error.err in CODES
        assert error.description
        return
    original = asyncio.run(
        Verifier(
            issuer="https://idp.example/",
            audience="https://rp.example/",
            algorithms=["ES256"],
            jwks=StaticJwks([KEY]),
        ).verify(TOKEN)
    )
    assert verified.claims == original.claims  # only a no-op mutation may pass
