"""A verified SET always has an event type (code review §5.3): for an event URI the catalog does
not know, `event_type` used to be None, and the README's receiver, which prints
`verified.event_type.name`, crashed with AttributeError on the first such SET."""

from __future__ import annotations

import json
from pathlib import Path

from set_tokens import KeySet, StaticJwks, Verifier, issue
from set_tokens.events import CAEP_BASE, EventPayload, EventType

from ..hub.cli_runner import Sethub

ISSUER = "https://hub.test"
AUDIENCE = "https://rp.test"
CUSTOM = "https://idp.test/events/loyalty-tier-changed"  # in no catalog
SUBJECT = {"format": "email", "email": "jane@example.com"}


def sign(keys: KeySet, event_type: str, payload: dict[str, object]) -> str:
    return issue(
        key=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        event_type=event_type,
        payload=payload,
        subject=SUBJECT,
    )


async def test_an_unknown_event_type_is_named_by_its_uri_and_keeps_its_payload() -> None:
    keys = KeySet.with_new_key("ES256")
    verifier = Verifier(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks=StaticJwks(keys.jwks())
    )
    payload = {"tier": "gold", "points": 1200, "history": [{"tier": "silver"}]}
    verified = await verifier.verify(sign(keys, CUSTOM, payload))

    assert isinstance(verified.event_type, EventType)
    assert verified.event_type.name == CUSTOM  # the README's receiver line, which crashed
    assert verified.event_type.uri == CUSTOM and verified.event_name == CUSTOM
    assert not verified.event_type.known and verified.event_type.topic == ""
    assert isinstance(verified.payload, EventPayload)
    assert verified.payload.model_dump() == payload

    known = await verifier.verify(sign(keys, f"{CAEP_BASE}session-revoked", {}))
    assert known.event_type.known and known.event_name == "session-revoked"


def test_sethub_verify_names_an_unknown_event_by_its_uri(sethub: Sethub, tmp_path: Path) -> None:
    keys = KeySet.with_new_key("ES256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    checked = sethub(
        "verify",
        sign(keys, CUSTOM, {"tier": "gold"}),
        "--jwks",
        str(jwks),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["event"] == CUSTOM  # it printed null before
