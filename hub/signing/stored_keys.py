"""The key set kept in a shared store (PostgreSQL), as every node of the hub reads it.

Every node signs with the same active key and publishes the same JWKS because they all read one
stored key set. A change (`sethub keys rotate --db postgresql://...`) raises the set's generation;
each node reads that one integer every `KEY_POLL_SECONDS` in the background and reloads the set
when it moved, so a rotation reaches every node within a second. Which key signs at a given time
is the key set's own rule, applied by each node on its own clock: a pending key becomes active
on every node at its activation time, with no write to the database.

First start on an empty database: a node whose --keys-dir holds a key set (an operator moving
from SQLite to PostgreSQL) imports it, so the JWKS receivers have cached stays valid; otherwise
it generates one key. Either way the store creates one set however many nodes try at once, and
the others use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from set_tokens import ConfigurationError, KeySet, SigningKey

from ..store import (
    SealingError,
    SecretKeyRequired,
    SigningKeyRecord,
    SigningKeys,
    SigningKeysRepository,
    StoreError,
)
from .keydir import SigningKeysError, problem

__all__ = ["KEY_POLL_SECONDS", "StoredKeySource", "key_set_of", "records_of"]

log = logging.getLogger("sethub.signing")
# How often a node reads the key set's generation: a rotation reaches every node within this
# (plus one read of the set). One indexed one-row read per node.
KEY_POLL_SECONDS = 0.5


def records_of(keys: KeySet) -> list[SigningKeyRecord]:
    """The key set as the store keeps it (private PEMs in memory; the store seals them)."""
    return [
        SigningKeyRecord(
            kid=key.kid,
            alg=key.alg,
            state=state,
            created_at=created_at,
            activate_at=activate_at,
            public_jwk=json.dumps(key.public_jwk(), sort_keys=True),
            private_pem=key.private_pem(),
        )
        for key, state, created_at, activate_at in keys.members()
    ]


def key_set_of(stored: SigningKeys | Iterable[SigningKeyRecord]) -> KeySet:
    """The KeySet the stored records describe; ConfigurationError if one is not a usable key."""
    records = stored.keys if isinstance(stored, SigningKeys) else tuple(stored)
    return KeySet.from_members(
        [
            (
                SigningKey.from_pem(record.private_pem, record.alg, kid=record.kid),
                record.state,
                record.created_at,
                record.activate_at,
            )
            for record in records
        ]
    )


class StoredKeySource:
    def __init__(
        self,
        repository: SigningKeysRepository,
        *,
        algorithm: str,
        keys_dir: Path,
        clock: Callable[[], float],
        poll_seconds: float = KEY_POLL_SECONDS,
    ) -> None:
        self._repository = repository
        self._algorithm = algorithm
        self._keys_dir = keys_dir
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._generation = 0
        self._newer: KeySet | None = None
        self._watching: asyncio.Task[None] | None = None

    async def open(self) -> KeySet:
        try:
            stored = await self._repository.load()
            if stored.keys:
                self._mention_unused_directory()
            else:
                stored = await self._first_key_set()
            keys = key_set_of(stored)
        except SecretKeyRequired as exc:
            raise SigningKeysError(str(exc)) from exc
        except (SealingError, ConfigurationError, StoreError) as exc:
            raise SigningKeysError(f"cannot use the signing keys in the database: {exc}") from exc
        self._generation = stored.generation
        self._watching = asyncio.create_task(self._watch(), name="sethub-signing-keys")
        return keys

    async def _first_key_set(self) -> SigningKeys:
        """The one key set every node will use: the keys dir's, if this node has one (moving
        from SQLite), else a new key; another node's, if it stored one first."""
        imported = self._keys_in_directory()
        if imported is not None:
            keys = imported
        else:
            keys = KeySet.with_new_key(self._algorithm, now=self._clock())
        stored, created = await self._repository.create(records_of(keys))
        if not created:
            log.info("using the signing keys another node stored in the database first")
        elif imported is not None:
            log.warning(
                "imported %d signing keys from %s into the database; the database is where"
                " they live from now on (rotate with sethub keys --db)",
                len(imported.members()),
                self._keys_dir,
            )
        else:
            log.info("generated a %s signing key in the database", self._algorithm)
        return stored

    def _keys_in_directory(self) -> KeySet | None:
        try:
            if not KeySet.exists(self._keys_dir):
                return None
            return KeySet.load(self._keys_dir)
        except (OSError, ConfigurationError) as exc:
            raise SigningKeysError(
                f"the database has no signing keys and those in {self._keys_dir} cannot be"
                f" imported: {problem(exc, self._keys_dir)}"
            ) from exc

    def _mention_unused_directory(self) -> None:
        with contextlib.suppress(OSError):
            if KeySet.exists(self._keys_dir):
                log.info(
                    "signing keys come from the database; the key set in %s is not used",
                    self._keys_dir,
                )

    def newer(self, *, look_now: bool = False) -> KeySet | None:
        """What the background poll found since the last call (it never waits for the
        database: at most `poll_seconds` behind)."""
        keys, self._newer = self._newer, None
        return keys

    async def _watch(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self._look()
            except (StoreError, SealingError, ConfigurationError) as exc:
                if not failing:  # once per run of failures, not twice a second
                    log.error("cannot reload the signing keys from the database: %s", exc)
                failing = True
            except Exception:  # a bug must not stop rotations reaching this node unseen
                if not failing:
                    log.exception("cannot reload the signing keys from the database")
                failing = True
            else:
                if failing:
                    log.info("reading the signing keys from the database again")
                failing = False

    async def _look(self) -> None:
        if await self._repository.generation() == self._generation:
            return
        stored = await self._repository.load()
        if not stored.keys:
            raise ConfigurationError("the database holds no signing keys any more")
        self._newer = key_set_of(stored)
        self._generation = stored.generation
        log.info("reloaded the key set from the database (generation %d)", stored.generation)

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
