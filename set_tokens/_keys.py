"""Signing keys, their public JWKs, and key sets that rotate.

A `KeySet` publishes every key a receiver may meet: the next key before it signs anything (pending),
the active key, and former keys until the operator retires them. Rotation is a state change of the
set, not a special case in the signer: `signing_key(now)`, `jwks(now)` and `retire(kid, now)`
promote a pending key whose grace period has passed, so each acts on the set as it is now.

On disk (`save`/`load`): one PEM per key, mode 0600, and a manifest `keyset.json`, mode 0600, in
a directory kept at 0700 (tightened if it was wider). A kid names a file, so the manifest's kids
are checked to be plain names (letters, digits, `-`, `_`) before any path is built from them: a
manifest someone else could write must not point the hub at a key file elsewhere. A retired key's
PEM is deleted once the manifest without it is in place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import ConfigurationError

__all__ = ["ALGORITHMS", "Algorithm", "KeySet", "KeyState", "SigningKey", "jwk_thumbprint"]

Algorithm = Literal["RS256", "PS256", "ES256", "EdDSA", "Ed25519"]
# `Ed25519` is RFC 9864's name for what RFC 8037 calls `EdDSA` with an Ed25519 key. Both are
# issued and verified: a key says which one its SETs carry, and a key generated as EdDSA keeps
# saying EdDSA (its receivers' allow-lists name it so).
ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519")
KeyState = Literal["pending", "active", "retiring"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
MANIFEST = "keyset.json"
MIN_RSA_BITS = 2048  # the CAEP interoperability profile's floor
KEY_STATES: tuple[str, ...] = ("pending", "active", "retiring")
FILE_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # RFC 7638 thumbprints are 43 of these
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order."""
    required = {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
    }
    members = required.get(jwk.get("kty", ""))
    if members is None:
        raise ConfigurationError(f"cannot take the thumbprint of a {jwk.get('kty')!r} key")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _check_pairing(private_key: Any, alg: str) -> None:
    expected = {
        "RS256": rsa.RSAPrivateKey,
        "PS256": rsa.RSAPrivateKey,
        "ES256": ec.EllipticCurvePrivateKey,
        "EdDSA": ed25519.Ed25519PrivateKey,
        "Ed25519": ed25519.Ed25519PrivateKey,
    }
    if alg not in expected:
        raise ConfigurationError(f"unsupported algorithm {alg!r}; use one of {ALGORITHMS}")
    if not isinstance(private_key, expected[alg]):
        raise ConfigurationError(f"a {type(private_key).__name__} cannot sign {alg}")
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < MIN_RSA_BITS:
        raise ConfigurationError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise ConfigurationError("ES256 needs a P-256 key")


def _file_kid(kid: Any) -> str:
    """`kid`, if it can name a file in the key directory (no separators, no dots)."""
    if not isinstance(kid, str) or not FILE_KID.fullmatch(kid):
        raise ConfigurationError(
            f"kid {kid!r} cannot name a key file: use letters, digits, '-' and '_' only"
        )
    return kid


def _private_directory(directory: Path) -> None:
    """Create `directory` 0700, or take a wider mode away from an existing one."""
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if stat.S_IMODE(directory.stat().st_mode) & 0o077:
        directory.chmod(PRIVATE_DIR_MODE)


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write `path` readable by its owner only, whatever the umask and any earlier mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE_MODE)
        handle.write(data)


def _new_private_key(alg: str, bits: int) -> PrivateKey:
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg in ("EdDSA", "Ed25519"):
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigurationError(f"unsupported algorithm {alg!r}; use one of {ALGORITHMS}")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    @classmethod
    def generate(
        cls, alg: str = "RS256", *, bits: int = 2048, kid: str | None = None
    ) -> SigningKey:
        """A fresh key; its thumbprint kid never starts with '-'.

        A kid like `-Xy...` (one thumbprint in 64) reads as an option on a command line, so
        `sethub keys retire <kid>` would refuse it; drawing another key costs nothing that matters.
        """
        if alg in ("RS256", "PS256") and bits not in (2048, 3072, 4096):
            raise ConfigurationError("RSA keys are 2048, 3072 or 4096 bits")
        while True:
            key = cls.from_private_key(_new_private_key(alg, bits), alg, kid=kid)
            if kid is not None or not key.kid.startswith("-"):
                return key

    @classmethod
    def from_private_key(cls, private: Any, alg: str, *, kid: str | None = None) -> SigningKey:
        _check_pairing(private, alg)
        draft = cls(kid="", alg=alg, private_key=private)
        return replace(draft, kid=kid or jwk_thumbprint(draft.public_jwk(with_kid=False)))

    @classmethod
    def from_pem(cls, pem: bytes, alg: str, *, kid: str | None = None) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"not an unencrypted PEM private key: {exc}") from exc
        return cls.from_private_key(private, alg, kid=kid)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self, *, with_kid: bool = True) -> dict[str, Any]:
        """The public half as a JWK (RFC 7517), with `use`, `alg` and `kid`."""
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        jwk = {k: v for k, v in jwk.items() if k in ("kty", "n", "e", "crv", "x", "y")}
        jwk.update({"use": "sig", "alg": self.alg})
        if with_kid:
            jwk["kid"] = self.kid
        return jwk

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True)
class _Member:
    key: SigningKey
    state: KeyState
    created_at: float
    activate_at: float | None = None  # for a pending key


class KeySet:
    """One active signing key and every other published key; see the module docstring."""

    def __init__(self, members: list[_Member] | None = None) -> None:
        self._members: list[_Member] = list(members or [])
        self._retired: list[str] = []  # kids whose PEM the next save() deletes

    @classmethod
    def with_new_key(
        cls, alg: str = "RS256", *, bits: int = 2048, now: float | None = None
    ) -> KeySet:
        stamp = time.time() if now is None else now
        return cls([_Member(SigningKey.generate(alg, bits=bits), "active", stamp)])

    @classmethod
    def from_members(cls, members: Iterable[tuple[SigningKey, str, float, float | None]]) -> KeySet:
        """The key set `members()` describes: for key sets kept elsewhere than a directory (a
        database), read back as they were listed. Kids must be unique; states are checked."""
        checked: list[_Member] = []
        for key, state, created_at, activate_at in members:
            if state not in KEY_STATES:
                raise ConfigurationError(f"key {key.kid} has an unknown state {state!r}")
            if any(m.key.kid == key.kid for m in checked):
                raise ConfigurationError(f"the key set already has kid {key.kid}")
            checked.append(_Member(key, cast(KeyState, state), created_at, activate_at))
        return cls(checked)

    def members(self) -> list[tuple[SigningKey, KeyState, float, float | None]]:
        return [(m.key, m.state, m.created_at, m.activate_at) for m in self._members]

    def _promote(self, now: float) -> None:
        due = [m for m in self._members if m.state == "pending" and (m.activate_at or 0) <= now]
        if not due:
            return
        newest = max(due, key=lambda m: (m.activate_at or 0, m.created_at))
        updated: list[_Member] = []
        for member in self._members:
            if member is newest:
                updated.append(replace(member, state="active", activate_at=None))
            elif member.state == "active" or (member in due):
                updated.append(replace(member, state="retiring", activate_at=None))
            else:
                updated.append(member)
        self._members = updated

    def signing_key(self, *, now: float | None = None) -> SigningKey:
        self._promote(time.time() if now is None else now)
        for member in self._members:
            if member.state == "active":
                return member.key
        raise ConfigurationError("the key set has no active signing key")

    def add(self, key: SigningKey, *, grace: float = 0.0, now: float | None = None) -> None:
        """Publish `key` now; it starts signing once `grace` seconds have passed."""
        if any(m.key.kid == key.kid for m in self._members):
            raise ConfigurationError(f"the key set already has kid {key.kid}")
        stamp = time.time() if now is None else now
        self._members.append(_Member(key, "pending", stamp, activate_at=stamp + grace))
        self._promote(stamp)

    def rotate(
        self, alg: str | None = None, *, grace: float, bits: int = 2048, now: float | None = None
    ) -> SigningKey:
        """Publish a new key that becomes active after `grace`; the old one stays published."""
        current = self.signing_key(now=now)
        key = SigningKey.generate(alg or current.alg, bits=bits)
        self.add(key, grace=grace, now=now)
        return key

    def retire(self, kid: str, *, now: float | None = None) -> None:
        """Stop publishing a former key (the operator says when no SET signed by it is left).

        A promotion that is due is applied first, so the key that signs now is never retired,
        and the key `list` shows as retiring can be."""
        self._promote(time.time() if now is None else now)
        member = next((m for m in self._members if m.key.kid == kid), None)
        if member is None:
            raise ConfigurationError(f"no key {kid} in the key set")
        if member.state == "active":
            raise ConfigurationError("the active key cannot be retired; rotate first")
        self._members.remove(member)
        self._retired.append(kid)

    def jwks(self, *, now: float | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every published key, public parts only."""
        self._promote(time.time() if now is None else now)
        return {"keys": [m.key.public_jwk() for m in self._members]}

    def save(self, directory: Path) -> None:
        """PEM files and the manifest, owner-only (see the module docstring); written so a reader
        never sees half a set: new PEMs first, then the manifest at once, then retired PEMs go."""
        for member in self._members:
            _file_kid(member.key.kid)
        _private_directory(directory)
        for member in self._members:
            path = directory / f"{member.key.kid}.pem"
            if not path.exists():
                _write_private(path, member.key.private_pem(), exclusive=True)
            elif stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(PRIVATE_FILE_MODE)
        manifest = {
            "keys": [
                {
                    "kid": m.key.kid,
                    "alg": m.key.alg,
                    "state": m.state,
                    "created_at": m.created_at,
                    "activate_at": m.activate_at,
                }
                for m in self._members
            ]
        }
        temporary = directory / f".{MANIFEST}.tmp"
        _write_private(temporary, (json.dumps(manifest, indent=2) + "\n").encode(), exclusive=False)
        os.replace(temporary, directory / MANIFEST)
        kept = {m.key.kid for m in self._members}
        for kid in self._retired:
            if kid not in kept:
                (directory / f"{_file_kid(kid)}.pem").unlink(missing_ok=True)
        self._retired.clear()

    @classmethod
    def load(cls, directory: Path) -> KeySet:
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            members = [cls._load_member(directory, item) for item in manifest["keys"]]
        except (OSError, ValueError, KeyError, TypeError, ConfigurationError) as exc:
            raise ConfigurationError(f"cannot load the key set in {directory}: {exc}") from exc
        return cls(members)

    @staticmethod
    def _load_member(directory: Path, item: dict[str, Any]) -> _Member:
        kid = _file_kid(item["kid"])  # before it becomes part of a path
        if item["state"] not in KEY_STATES:
            raise ConfigurationError(f"key {kid} has an unknown state {item['state']!r}")
        pem = (directory / f"{kid}.pem").read_bytes()
        return _Member(
            SigningKey.from_pem(pem, item["alg"], kid=kid),
            item["state"],
            float(item["created_at"]),
            item.get("activate_at"),
        )

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / MANIFEST).exists()
