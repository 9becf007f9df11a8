"""The hub's SET signer: one signed token per (identity event, subscription), off the event loop.

Keys live in `--keys-dir` as a set_tokens KeySet; the first start generates one. The set is
reloaded when its manifest changes, so `sethub keys rotate` takes effect in a running hub, and the
JWKS always lists every published key. RSA signing (about a millisecond a token) runs in a process
pool so fan-out to many subscribers never stalls the event loop; ES256 and EdDSA sign inline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from set_tokens import KeySet, SigningKey, sign_claims

from .config import Settings
from .store import DueDelivery

__all__ = ["SetSigner", "callback_origin"]

log = logging.getLogger("sethub.signing")
MANIFEST = "keyset.json"
POOLED_ALGORITHMS = frozenset({"RS256", "PS256"})

_worker_keys: dict[str, SigningKey] = {}


def _sign_in_worker(claims: dict[str, Any], kid: str, alg: str, pem: bytes) -> str:
    """Runs in a pool process; keys are parsed once per process and kept by kid."""
    key = _worker_keys.get(kid)
    if key is None:
        key = _worker_keys[kid] = SigningKey.from_pem(pem, alg, kid=kid)
    return sign_claims(claims, key)


def callback_origin(callback: str) -> str:
    """The default audience of a subscription: scheme://host[:port] of its callback."""
    parts = urlsplit(callback)
    return f"{parts.scheme}://{parts.netloc}"


class SetSigner:
    def __init__(self, settings: Settings, *, clock: Any = time.time) -> None:
        self._settings = settings
        self._directory: Path = settings.keys_dir
        self._clock = clock
        self._keys = self._load_or_create()
        self._manifest_mtime = self._mtime()
        self._pems: dict[str, bytes] = {}
        workers = settings.signing_workers or os.cpu_count() or 1
        # spawn, not fork: the hub process has threads (the database) that a fork would copy.
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def _mtime(self) -> float:
        try:
            return (self._directory / MANIFEST).stat().st_mtime
        except OSError:
            return 0.0

    def _load_or_create(self) -> KeySet:
        if KeySet.exists(self._directory):
            return KeySet.load(self._directory)
        keys = KeySet.with_new_key(self._settings.signing_algorithm, now=self._clock())
        keys.save(self._directory)
        log.info(
            "generated a %s signing key in %s", self._settings.signing_algorithm, self._directory
        )
        return keys

    def _refresh(self) -> None:
        mtime = self._mtime()
        if mtime != self._manifest_mtime:
            self._keys = KeySet.load(self._directory)
            self._manifest_mtime = mtime
            log.info("reloaded the key set from %s", self._directory)

    def jwks(self) -> dict[str, Any]:
        self._refresh()
        return self._keys.jwks(now=self._clock())

    def claims_for(self, item: DueDelivery, *, now: float) -> dict[str, Any]:
        event = json.loads(item.body)
        claims: dict[str, Any] = {
            "iss": self._settings.set_issuer,
            "iat": int(now),
            "jti": uuid.uuid4().hex,
            "aud": item.audience or callback_origin(item.callback),
            "txn": event["txn"],
            "sub_id": event["sub_id"],
            "events": {event["type"]: event["payload"]},
        }
        if event.get("toe") is not None:
            claims["toe"] = event["toe"]
        return claims

    async def render(self, item: DueDelivery) -> bytes:
        """The subscription's own SET for this event (the caller stores it for every retry)."""
        self._refresh()
        now = self._clock()
        key = self._keys.signing_key(now=now)
        claims = self.claims_for(item, now=now)
        if key.alg not in POOLED_ALGORITHMS:
            return sign_claims(claims, key).encode()
        pem = self._pems.get(key.kid)
        if pem is None:
            pem = self._pems[key.kid] = key.private_pem()
        loop = asyncio.get_running_loop()
        token = await loop.run_in_executor(
            self._pool, _sign_in_worker, claims, key.kid, key.alg, pem
        )
        return token.encode()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
