"""The pieces under `issue()` and `Verifier`, for a transmitter or receiver that needs them apart.

Most code needs none of this. `build_claims` and `sign_claims` are `issue()` in two halves (the
hub builds claims once and signs them in worker processes); `unverified_header` is a token's JOSE
header parsed but NOT verified, as its name says; `SecurityEventToken` is the claims model of a
verified SET (`VerifiedSet.claims`). `JwksSource` and `ReplayStore` are the interfaces of a key
source and of a jti store of your own; `DEFAULT_MAX_AGE` and `DEFAULT_CLOCK_SKEW` are the
`Verifier`'s defaults.
"""

from ._claims import SecurityEventToken
from ._issue import SET_TYP, build_claims, sign_claims
from ._jwks import JwksSource
from ._keys import jwk_thumbprint
from ._replay import ReplayStore
from ._verify import DEFAULT_CLOCK_SKEW, DEFAULT_MAX_AGE, unverified_header

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_MAX_AGE",
    "SET_TYP",
    "JwksSource",
    "ReplayStore",
    "SecurityEventToken",
    "build_claims",
    "jwk_thumbprint",
    "sign_claims",
    "unverified_header",
]
