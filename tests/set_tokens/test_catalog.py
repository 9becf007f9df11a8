"""The event catalog: standard URIs, vendor aliases, payload models, defaults, registration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from set_tokens import Catalog
from set_tokens.events import (
    CAEP_BASE,
    RISC_BASE,
    EventType,
    InvalidEventPayload,
    UnknownEventType,
    default_catalog,
)
from set_tokens.events._sources import VENDOR_SOURCES

from .vendor_event_names import CORRECTED, DOCUMENTED, INVENTED

CAEP_EVENTS = {"session-revoked", "token-claims-change", "credential-change",
               "assurance-level-change", "device-compliance-change", "session-established",
               "session-presented", "risk-level-change"}
RISC_EVENTS = {"account-credential-change-required", "account-purged", "account-disabled",
               "account-enabled", "identifier-changed", "identifier-recycled",
               "credential-compromise", "opt-in", "opt-out-initiated", "opt-out-cancelled",
               "opt-out-effective", "recovery-activated", "recovery-information-changed",
               "sessions-revoked"}
EXAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "token-claims-change": {"claims": {"role": "ro-admin"}},
    "credential-change": {"credential_type": "fido2-roaming", "change_type": "create",
                          "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
                          "friendly_name": "Jane's USB authenticator",
                          "initiating_entity": "user",
                          "reason_admin": {"en": "User self-enrollment"},
                          "event_timestamp": 1615304991},
    "assurance-level-change": {"namespace": "NIST-AAL", "current_level": "nist-aal2",
                               "previous_level": "nist-aal1", "change_direction": "increase"},
    "device-compliance-change": {"previous_status": "compliant",
                                 "current_status": "not-compliant"},
    "risk-level-change": {"principal": "USER", "current_level": "HIGH"},
    "credential-compromise": {"credential_type": "password"},
    "role-assigned": {"role": "admin"}, "role-unassigned": {"role": "admin"},
    "group-member-added": {"group": "g"}, "group-member-removed": {"group": "g"},
    "identity-linked": {"provider": "google"}, "identity-unlinked": {"provider": "google"},
    "password-changed": {}, "password-reset": {},
    "mfa-enrolled": {"credential_type": "app"}, "mfa-removed": {"credential_type": "app"},
}

ALIASES = {  # vendor name -> short name it must resolve to
    "PostSignIn": "login-succeeded", "PostRegister": "registration-succeeded",
    "PostResetPassword": "password-reset", "User.Created": "user-created",
    "User.Deleted": "user-deleted", "User.Data.Updated": "user-updated",
    "USER_LOGIN": "login-succeeded", "USER_LOGIN_FAILURE": "login-failed",
    "USER_CREATED": "user-created", "Login": "login-succeeded", "Register":
    "registration-succeeded", "ChangePassword": "password-changed", "loginSuccess":
    "login-succeeded", "credentialUpdated": "password-changed", "userDisabled": "user-disabled",
    "sessionRevoked": "session-revoked", "accessTokenIssued": "access-token-issued",
    # both cidaas schemes, the names the findings list as missing, exception hooks
    "LOGIN_WITH_CIDAAS": "login-succeeded", "ACCOUNT_MODIFIED": "user-updated",
    "ACCOUNT_CREATED_WITH_SOCIAL_IDENTITY": "user-created", "LOGIN_FAILURE": "login-failed",
    "VerifyPhoneNumber": "phone-verified", "UpdatePhoneId": "phone-changed",
    "RemoveEmail": "recovery-information-changed", "SetPIN": "pin-set",
    "Identifier.Lockout": "user-locked", "PostSignInAdaptiveMfaTriggered": "mfa-required",
    "https://schemas.identity.wso2.org/events/login/event-type/loginSuccess": "login-succeeded",
}


def test_every_caep_and_risc_uri() -> None:
    catalog = Catalog()
    for name in CAEP_EVENTS:
        assert catalog.by_uri(CAEP_BASE + name).name == name
    for name in RISC_EVENTS:
        assert catalog.by_uri(RISC_BASE + name).name == name
    standard = {e.uri for e in catalog if e.standard in ("caep", "risc")}
    # RISC 1.0 defines 14 event types (its "Opt Out" section groups four of them).
    assert len(CAEP_EVENTS) == 8 and len(RISC_EVENTS) == 14
    assert standard == {CAEP_BASE + n for n in CAEP_EVENTS} | {RISC_BASE + n for n in RISC_EVENTS}


def test_known_vendor_names_resolve() -> None:
    catalog = Catalog()
    for alias, name in ALIASES.items():
        assert catalog.lookup(alias).name == name, alias


def test_every_alias_resolves_to_its_own_entry_only() -> None:
    catalog = Catalog()
    seen: dict[str, str] = {}
    for entry in catalog:
        for alias, vendor in entry.aliases.items():
            assert vendor in {"logto", "cidaas", "loginradius", "asgardeo"}
            assert alias not in seen, f"{alias} names {seen.get(alias)} and {entry.name}"
            seen[alias] = entry.name
            assert catalog.lookup(alias) is entry


@pytest.mark.parametrize("entry", list(Catalog()), ids=lambda e: e.name)
def test_every_payload_model_round_trips(entry: EventType) -> None:
    catalog = Catalog()
    model = catalog.validate_payload(entry, EXAMPLE_PAYLOADS.get(entry.name, {}))
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert catalog.validate_payload(entry, dumped) == model


def test_required_fields_and_enumerations() -> None:
    catalog = Catalog()
    change = catalog.lookup("credential-change")
    with pytest.raises(InvalidEventPayload) as missing:
        catalog.validate_payload(change, {"credential_type": "password"})
    assert missing.value.field == "change_type"
    with pytest.raises(InvalidEventPayload) as wrong:
        catalog.validate_payload(change, {"credential_type": "password", "change_type": "rotate"})
    assert wrong.value.field == "change_type"
    with pytest.raises(InvalidEventPayload) as entity:
        catalog.validate_payload(catalog.lookup("session-revoked"), {"initiating_entity": "cat"})
    assert entity.value.field == "initiating_entity"
    extra = catalog.validate_payload(catalog.lookup("session-revoked"), {"custom": 1})
    assert extra.model_dump()["custom"] == 1  # unknown members are kept


def test_lifecycle_events_use_standard_uris_with_defaults() -> None:
    catalog = Catalog()
    changed = catalog.lookup("password-changed")
    assert changed.uri == CAEP_BASE + "credential-change"
    payload = catalog.validate_payload(changed, {}).model_dump(exclude_none=True)
    assert payload == {"credential_type": "password", "change_type": "update",
                       "reason_admin": {"en": "Password changed"}}
    assert catalog.lookup("logout").uri == CAEP_BASE + "session-revoked"
    assert catalog.lookup("user-disabled").uri == RISC_BASE + "account-disabled"
    assert catalog.lookup("user-deleted").uri == RISC_BASE + "account-purged"
    assert catalog.by_uri(CAEP_BASE + "credential-change").name == "credential-change"
    assert catalog.lookup("login-failed").uri == "urn:sethub:event-type:login-failed"


def test_unknown_types_and_runtime_registration() -> None:
    catalog = Catalog(namespace="https://idp.example/events/")
    assert catalog.lookup("login-failed").uri == "https://idp.example/events/login-failed"
    with pytest.raises(UnknownEventType):
        catalog.lookup("quantum-login")

    class Quantum(BaseModel):
        qubits: int

    entry = catalog.register(uri="https://idp.example/events/quantum", name="quantum-login",
                             topic="login", payload_model=Quantum, aliases={"QLOGIN": "custom"})
    assert catalog.lookup("QLOGIN") is entry and catalog.by_uri(entry.uri) is entry
    assert entry in catalog.topics()["login"]
    with pytest.raises(ValueError, match="already"):
        catalog.register(uri=entry.uri, name="other", topic="login", payload_model=Quantum)
    with pytest.raises(ValueError, match="already"):
        catalog.register(uri="https://idp.example/x", name="login-failed", topic="login",
                         payload_model=Quantum)
    assert default_catalog() is default_catalog()


def test_topics_group_the_entries() -> None:
    topics = Catalog().topics()
    assert {"login", "registration", "credential", "account", "session", "token",
            "authorization"} <= set(topics)
    assert {e.name for e in topics["login"]} == {"login-failed"}
    assert {"login-succeeded", "logout", "session-revoked", "session-established"} <= {
        e.name for e in topics["session"]}
    for name in topics:
        assert name.isascii() and name == name.lower()


def test_every_alias_is_documented_by_the_page_it_cites() -> None:
    urls = {url: key for key, url in VENDOR_SOURCES.items()}
    count = 0
    for entry in Catalog():
        for alias, vendor in entry.aliases.items():
            source = urls[entry.sources[alias]]
            assert source.startswith(vendor) or (vendor, source) == ("asgardeo", "wso2-events")
            assert alias in DOCUMENTED[source], f"{alias} ({entry.name}) is not on {source}"
            count += 1
    assert count > 100


def test_invented_names_are_unknown_and_wrong_mappings_fixed() -> None:
    catalog = Catalog()
    for name in INVENTED:
        with pytest.raises(UnknownEventType):
            catalog.lookup(name)
    for name, meaning in CORRECTED.items():
        if meaning is None:
            with pytest.raises(UnknownEventType, match=r"means .* by "):
                catalog.lookup(name)
        else:
            assert catalog.lookup(name).name == meaning, name
    with pytest.raises(UnknownEventType, match=r"Data\.IsActive"):
        catalog.lookup("blockaccount")  # LoginRadius names match in any case, this one too
    # RISC §2.5: a provider that is not the address's authority does not send identifier-changed
    assert catalog.lookup("email-changed").uri != RISC_BASE + "identifier-changed"
    assert catalog.lookup("AddEmail").uri == RISC_BASE + "recovery-information-changed"


def test_one_uri_one_topic() -> None:
    topics: dict[str, set[str]] = {}
    for entry in Catalog():
        topics.setdefault(entry.uri, set()).add(entry.topic)
    assert {uri: t for uri, t in topics.items() if len(t) > 1} == {}
    catalog = Catalog()
    assert catalog.lookup("logout").topic == catalog.lookup("session-revoked").topic == "session"


def test_loginradius_names_match_whatever_their_case_others_exactly() -> None:
    catalog = Catalog()
    for spelling in ("emailVerification", "EmailVerification", "login", "LOGIN"):
        assert catalog.lookup(spelling).aliases.get("Login") or catalog.lookup(spelling).name in {
            "email-verified", "login-succeeded"}
    with pytest.raises(UnknownEventType):
        catalog.lookup("user.created")  # Logto spells its names one way only


def test_caep_interop_reason_admin_and_numeric_dates() -> None:
    catalog = Catalog()
    for name in ("session-revoked", "logout", "credential-change", "password-reset", "pin-set"):
        payload = catalog.validate_payload(
            catalog.lookup(name), {"credential_type": "password", "change_type": "update"})
        assert payload.model_dump()["reason_admin"]["en"], name
    own = catalog.validate_payload(catalog.lookup("logout"), {"reason_admin": {"de": "Abgemeldet"}})
    assert own.model_dump()["reason_admin"] == {"de": "Abgemeldet"}
    revoked = catalog.lookup("session-revoked")
    for bad, field in (({"event_timestamp": 1615304991643}, "event_timestamp"),
                       ({"event_timestamp": -1}, "event_timestamp"),
                       ({"reason_admin": {}}, "reason_admin"),
                       ({"reason_user": {}}, "reason_user"),
                       ({"reason_user": {"en": ""}}, "reason_user.en")):
        with pytest.raises(InvalidEventPayload) as refused:
            catalog.validate_payload(revoked, bad)
        assert refused.value.field == field, bad
    assert catalog.validate_payload(revoked, {"event_timestamp": 1615304991}).model_dump()[
        "event_timestamp"] == 1615304991


def test_agreed_credential_types() -> None:
    change = {"credential_type": "email-otp", "change_type": "create"}
    with pytest.raises(InvalidEventPayload) as refused:
        Catalog().validate_payload(Catalog().lookup("credential-change"), change)
    assert refused.value.field == "credential_type"
    agreed = Catalog(agreed_credential_types=("email-otp",))
    assert agreed.validate_payload(agreed.lookup("credential-change"), change).model_dump()[
        "credential_type"] == "email-otp"
