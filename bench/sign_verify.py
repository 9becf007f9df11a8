"""SETs issued and verified per second, per algorithm, next to raw pyjwt on the same claims.

    python bench/sign_verify.py [--seconds 1.0]

"raw" is jwt.encode / jwt.decode with a prepared key and no SET checks; "set_tokens" is
issue() (claims built and the subject validated) and Verifier.verify() (every check on, catalog
payload validation, replay cache). Overhead = 1 - ours / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import jwt

from set_tokens import ALGORITHMS, ReplayCache, SigningKey, StaticJwks, Verifier
from set_tokens.lowlevel import build_claims
from set_tokens import issue as issue_set
from set_tokens.events import CAEP_BASE

ISSUER, AUDIENCE = "https://hub.example", "https://rp.example"
EVENT = CAEP_BASE + "session-revoked"
SUBJECT = {"format": "email", "email": "jane@example.com"}
PAYLOAD = {"initiating_entity": "policy", "reason_admin": {"en": "Policy violation"}}


def rate(step: Callable[[], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            step()
        count += 20
    return count / (time.perf_counter() - started)


def bench(alg: str, seconds: float) -> tuple[float, float, float, float]:
    key = SigningKey.generate(alg)
    public = jwt.PyJWK(key.public_jwk()).key
    claims = build_claims(issuer=ISSUER, audience=AUDIENCE, event_type=EVENT, payload=PAYLOAD,
                          subject=SUBJECT)
    headers = {"typ": "secevent+jwt", "kid": key.kid}

    raw_sign = rate(lambda: jwt.encode(claims, key.private_key, algorithm=alg, headers=headers),
                    seconds)
    our_sign = rate(lambda: issue_set(key=key, issuer=ISSUER, audience=AUDIENCE,
                                      event_type=EVENT, payload=PAYLOAD, subject=SUBJECT),
                    seconds)

    tokens = [issue_set(key=key, issuer=ISSUER, audience=AUDIENCE, event_type=EVENT,
                        payload=PAYLOAD, subject=SUBJECT) for _ in range(2000)]
    raw_tokens = iter(tokens * 1000)
    raw_verify = rate(lambda: jwt.decode(next(raw_tokens), public, algorithms=[alg],
                                         audience=AUDIENCE, issuer=ISSUER), seconds)
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=[alg],
                        jwks=StaticJwks([key]), replay_cache=ReplayCache(maxsize=10))
    our_verify = asyncio.run(verify_rate(verifier, tokens, seconds))
    return raw_sign, our_sign, raw_verify, our_verify


async def verify_rate(verifier: Verifier, tokens: list[str], seconds: float) -> float:
    """Inside one coroutine, as a receiver's request handler awaits it."""
    unique = iter(tokens * 1000)  # a tiny replay cache, so repeated tokens are not replays
    count, started = 0, time.perf_counter()
    while time.perf_counter() < started + seconds:
        for _ in range(20):
            await verifier.verify(next(unique))
        count += 20
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = parser.parse_args()
    print(f"{'alg':<6} {'sign raw/s':>11} {'sign ours/s':>12} {'overhead':>9}  "
          f"{'verify raw/s':>13} {'verify ours/s':>14} {'overhead':>9}")
    for alg in ALGORITHMS:
        raw_sign, our_sign, raw_verify, our_verify = bench(alg, args.seconds)
        print(f"{alg:<6} {raw_sign:>11.0f} {our_sign:>12.0f} {1 - our_sign / raw_sign:>9.1%}  "
              f"{raw_verify:>13.0f} {our_verify:>14.0f} {1 - our_verify / raw_verify:>9.1%}")


if __name__ == "__main__":
    main()
