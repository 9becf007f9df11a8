"""`sethub keys` and `sethub verify` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from set_tokens import ConfigurationError, KeySet, SigningKey, issue
from set_tokens.events import CAEP_BASE

from ..hub.cli_runner import Sethub


def test_keys_generate_list_rotate_retire_jwks(sethub: Sethub, tmp_path: Path) -> None:
    keys_dir = str(tmp_path / "keys")
    made = sethub("keys", "generate", "--keys-dir", keys_dir, "--alg", "ES256")
    assert made.returncode == 0, made.stderr
    first = made.stdout.split()[3]
    pem = tmp_path / "keys" / f"{first}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    rotated = sethub("keys", "rotate", "--keys-dir", keys_dir, "--grace", "3600")
    assert rotated.returncode == 0
    second = rotated.stdout.split()[3].rstrip(";")
    listing = sethub("keys", "list", "--keys-dir", keys_dir).stdout
    assert f"{first}" in listing and "active" in listing
    assert f"{second}" in listing and "pending" in listing
    jwks = json.loads(sethub("keys", "jwks", "--keys-dir", keys_dir).stdout)
    assert {k["kid"] for k in jwks["keys"]} == {first, second}
    assert all("d" not in k for k in jwks["keys"])
    refused = sethub("keys", "retire", "--keys-dir", keys_dir, first)  # no `--` needed
    assert refused.returncode == 1 and "active key cannot be retired" in refused.stderr
    missing = sethub("keys", "list", "--keys-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and "cannot load" in missing.stderr


def test_retire_applies_a_due_promotion_first(sethub: Sethub, tmp_path: Path) -> None:
    """Walkthrough 1: after `rotate --grace` has passed, `list` shows the old key retiring and
    the new one active, and `retire` must agree: the old key goes, the signing one stays."""
    keys_dir = tmp_path / "keys"
    now = time.time()
    keys = KeySet.with_new_key("ES256", now=now - 100)
    old = keys.signing_key(now=now - 100)
    new = keys.rotate(grace=90, now=now - 100)  # became due 10 s ago; nothing saved that since
    keys.save(keys_dir)
    listing = sethub("keys", "list", "--keys-dir", str(keys_dir)).stdout
    assert f"{old.kid:<44} ES256  retiring" in listing
    refused = sethub("keys", "retire", "--keys-dir", str(keys_dir), new.kid)
    assert refused.returncode == 1 and "active key cannot be retired" in refused.stderr
    retired = sethub("keys", "retire", "--keys-dir", str(keys_dir), old.kid)
    assert retired.returncode == 0, retired.stderr
    manifest = json.loads((keys_dir / "keyset.json").read_text())
    assert [(k["kid"], k["state"]) for k in manifest["keys"]] == [(new.kid, "active")]
    assert not (keys_dir / f"{old.kid}.pem").exists()  # the retired private key is gone
    assert KeySet.load(keys_dir).signing_key().kid == new.kid


def test_key_files_are_private_whatever_the_umask_and_the_directory_mode(tmp_path: Path) -> None:
    """Security review I1: an existing 0755 directory kept its mode, and keyset.json followed the
    umask (0666 under umask 000)."""
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o755)
    keys_dir.chmod(0o755)
    previous = os.umask(0)
    try:
        keys = KeySet.with_new_key("ES256")
        keys.save(keys_dir)
        keys.rotate(grace=0)
        keys.save(keys_dir)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    files = sorted(keys_dir.iterdir())
    assert len(files) == 3  # two PEMs and the manifest, no temporary left
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


def test_a_manifest_kid_cannot_point_outside_the_key_directory(tmp_path: Path) -> None:
    """Security review I1: the manifest's kid was used in a path unchecked, so a writable
    manifest could make the hub load a key file of someone else's choosing."""
    elsewhere = SigningKey.generate("ES256")
    (tmp_path / "planted.pem").write_bytes(elsewhere.private_pem())
    keys_dir = tmp_path / "keys"
    KeySet.with_new_key("ES256").save(keys_dir)
    manifest = json.loads((keys_dir / "keyset.json").read_text())
    manifest["keys"].append(
        {"kid": "../planted", "alg": "ES256", "state": "pending", "created_at": 0, "activate_at": 0}
    )
    (keys_dir / "keyset.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigurationError, match="cannot name a key file"):
        KeySet.load(keys_dir)


def test_generated_kids_never_start_with_a_dash() -> None:
    """A dashed kid reads as an option: `sethub keys retire <kid>` would refuse it (1 key in 64)."""
    assert not any(SigningKey.generate("ES256").kid.startswith("-") for _ in range(600))


def test_an_imported_kid_that_starts_with_a_dash_retires_after_double_dash(
    sethub: Sethub, tmp_path: Path
) -> None:
    keys = KeySet()
    keys.add(SigningKey.generate("ES256", kid="-imported"))
    keys.add(SigningKey.generate("ES256"))  # the new key signs, the imported one is former
    keys_dir = str(tmp_path / "keys")
    keys.save(tmp_path / "keys")
    retired = sethub("keys", "retire", "--keys-dir", keys_dir, "--", "-imported")
    assert retired.returncode == 0, retired.stderr
    assert "-imported" not in sethub("keys", "list", "--keys-dir", keys_dir).stdout


def test_verify_prints_claims_or_the_rfc8935_code(sethub: Sethub, tmp_path: Path) -> None:
    keys = KeySet.with_new_key("RS256")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(keys.jwks()))
    compact = issue(
        key=keys,
        issuer="https://hub.example",
        audience="https://rp.example",
        event_type=CAEP_BASE + "session-revoked",
        payload={},
        subject={"format": "opaque", "id": "u1"},
    )
    ok = sethub(
        "verify",
        compact,
        "--jwks",
        str(jwks_file),
        "--issuer",
        "https://hub.example",
        "--audience",
        "https://rp.example",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    result = json.loads(ok.stdout)
    assert result["event"] == "session-revoked"
    assert result["claims"]["iss"] == "https://hub.example"
    bad = sethub(
        "verify",
        compact,
        "--jwks",
        str(jwks_file),
        "--issuer",
        "https://hub.example",
        "--audience",
        "https://other.example",
    )
    assert bad.returncode == 1
    assert bad.stdout.startswith("invalid_audience:")


def test_verify_refuses_a_set_older_than_max_age(sethub: Sethub, tmp_path: Path) -> None:
    """Security review H1: `sethub verify` accepted a SET of any age."""
    keys = KeySet.with_new_key("ES256")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(keys.jwks()))
    four_days_ago = issue(
        key=keys,
        issuer="https://hub.example",
        audience="https://rp.example",
        event_type=CAEP_BASE + "session-revoked",
        payload={},
        subject={"format": "opaque", "id": "u1"},
        now=time.time() - 4 * 86400,
    )
    common = (
        "--jwks",
        str(jwks_file),
        "--issuer",
        "https://hub.example",
        "--audience",
        "https://rp.example",
    )
    too_old = sethub("verify", four_days_ago, *common)
    assert too_old.returncode == 1, too_old.stdout + too_old.stderr
    assert too_old.stdout.startswith("invalid_request: the SET is older")
    allowed = sethub("verify", four_days_ago, *common, "--max-age", str(5 * 86400))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
