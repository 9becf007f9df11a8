"""`KeySet.from_members`, the inverse of `members()`: a key set kept elsewhere than a directory
(the hub's database) is read back as it was, and a malformed one is refused."""

from __future__ import annotations

import pytest

from set_tokens import ConfigurationError, KeySet, SigningKey


def test_members_read_back_make_the_same_key_set() -> None:
    keys = KeySet.with_new_key("ES256", now=100.0)
    keys.rotate(grace=50.0, now=110.0)
    again = KeySet.from_members(keys.members())
    assert [(k.kid, s, c, a) for k, s, c, a in again.members()] == [
        (k.kid, s, c, a) for k, s, c, a in keys.members()
    ]
    assert again.jwks(now=120.0) == keys.jwks(now=120.0)
    first, second = (key for key, _, _, _ in keys.members())
    assert again.signing_key(now=159.0).kid == first.kid
    assert again.signing_key(now=160.0).kid == second.kid  # the pending key's time still counts


def test_a_repeated_kid_or_an_unknown_state_is_refused() -> None:
    key = SigningKey.generate("ES256")
    with pytest.raises(ConfigurationError, match="already has kid"):
        KeySet.from_members([(key, "active", 1.0, None), (key, "retiring", 1.0, None)])
    with pytest.raises(ConfigurationError, match="unknown state 'revoked'"):
        KeySet.from_members([(key, "revoked", 1.0, None)])
