"""The public face of set_tokens: a short, deliberate top level and plainly named submodules
(code review §5). The top level is pinned here so that it cannot grow by accident: a name added
to it is a decision, made by editing TOP_LEVEL."""

from __future__ import annotations

import importlib
import pkgutil

import set_tokens

TOP_LEVEL = {
    # the recipes: issue, verify, receive
    "issue", "Verifier", "VerifiedSet", "make_push_handler", "WebSubSubscriber",
    # keys, key sources and replay stores
    "SigningKey", "KeySet", "ALGORITHMS", "RemoteJwks", "StaticJwks", "ReplayCache",
    "SqliteReplayCache",
    # what a SET is made of
    "SubjectIdentifier", "Catalog", "SET_MEDIA_TYPE",
    # errors: the RFC 8935 tree, and the three a receiver must tell apart from a bad token
    "SetError", "InvalidRequest", "ReplayedToken", "InvalidKey", "InvalidIssuer",
    "InvalidAudience", "AuthenticationFailed", "AccessDenied", "ConfigurationError",
    "KeysUnavailable", "SubscriptionFailed",
}

SUBMODULES = ("errors", "events", "subjects", "lowlevel", "websub")

# Every name the package exported before the split (56 of them at 2d9afcc, a few more since):
# each must still be importable from the top or from one of the submodules.
FORMERLY_AT_THE_TOP = (
    "ALGORITHMS", "DEFAULT_MAX_AGE", "DEFAULT_NAMESPACE", "SET_MEDIA_TYPE", "SET_TYP",
    "AccessDenied", "AccountId", "AliasesId", "AuthenticationFailed", "Catalog", "ComplexId",
    "ConfigurationError", "DidId", "DiscoveryError", "EmailId", "EventType", "InvalidAudience",
    "InvalidEventPayload", "InvalidIssuer", "InvalidKey", "InvalidRequest",
    "InvalidSubjectIdentifier", "IpAddressesId", "IssSubId", "JwksSource", "JwtIdId", "KeySet",
    "KeysUnavailable", "OpaqueId", "PhoneNumberId", "RemoteJwks", "ReplayCache", "ReplayStore",
    "ReplayedToken", "SamlAssertionIdId", "SecurityEventToken", "SetError", "SigningKey",
    "SqliteReplayCache", "StaticJwks", "SubjectIdentifier", "SubscriptionFailed",
    "TopicSubscription", "Unavailable", "UnknownEventType", "UriId", "VerifiedSet", "Verifier",
    "WebSubSubscriber", "build_claims", "default_catalog", "discover", "issue",
    "jwk_thumbprint", "make_push_handler", "parse_subject_identifier", "rejection_response",
    "sign_claims", "signature_valid", "subjects_match", "unverified_header",
)


def test_the_top_level_is_pinned() -> None:
    assert set(set_tokens.__all__) == TOP_LEVEL
    assert len(set_tokens.__all__) == len(TOP_LEVEL)  # no name listed twice
    for name in TOP_LEVEL:
        assert getattr(set_tokens, name) is not None, name


def test_every_public_submodule_has_an_all_whose_names_resolve() -> None:
    public = {
        info.name for info in pkgutil.iter_modules(set_tokens.__path__)
        if not info.name.startswith("_")
    }
    assert public == set(SUBMODULES)
    for name in SUBMODULES:
        module = importlib.import_module(f"set_tokens.{name}")
        exported = module.__all__
        assert exported and len(set(exported)) == len(exported), name
        for attribute in exported:
            assert not attribute.startswith("_"), (name, attribute)
            assert hasattr(module, attribute), (name, attribute)
        assert f"`set_tokens.{name}`" in (set_tokens.__doc__ or ""), name  # named up front


def test_nothing_exported_before_was_lost() -> None:
    homes = [set_tokens, *(importlib.import_module(f"set_tokens.{n}") for n in SUBMODULES)]
    lost = [n for n in FORMERLY_AT_THE_TOP if not any(n in m.__all__ for m in homes)]
    assert not lost


def test_a_top_level_name_is_the_same_object_in_its_submodule() -> None:
    """Re-exports, not copies: `except set_tokens.SubscriptionFailed` catches what
    set_tokens.websub raises, and one Catalog class is checked against everywhere."""
    for name in SUBMODULES:
        module = importlib.import_module(f"set_tokens.{name}")
        for attribute in set(module.__all__) & TOP_LEVEL:
            assert getattr(module, attribute) is getattr(set_tokens, attribute), attribute


def test_the_exception_tree_is_drawn_in_the_errors_docstring() -> None:
    from set_tokens import errors, events, subjects, websub

    drawn = errors.__doc__ or ""
    raised = [
        *(getattr(errors, n) for n in errors.__all__),
        websub.SubscriptionFailed, websub.DiscoveryError, events.UnknownEventType,
        events.InvalidEventPayload, subjects.InvalidSubjectIdentifier,
    ]
    for error in raised:
        assert f"\n{error.__name__} " in drawn or f"── {error.__name__} " in drawn, error
    assert issubclass(websub.DiscoveryError, set_tokens.SubscriptionFailed)
    assert issubclass(set_tokens.KeysUnavailable, errors.Unavailable)
