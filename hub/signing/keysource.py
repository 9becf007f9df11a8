"""Where the signer's key set comes from: the node's --keys-dir, or the store every node shares.

A hub on SQLite is one process, and its keys are files in `--keys-dir` (`DirectoryKeySource`),
reloaded when the manifest changes. Hub nodes on one PostgreSQL database must sign with the same
keys and publish the same JWKS, so their key set lives in the database (`StoredKeySource`, in
`stored_keys.py`) and each node polls it for changes. `SetSigner` sees only `KeySource`: the key
set as it is now, and a newer one when there is one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from set_tokens import ConfigurationError, KeySet

from ..config import Settings
from ..store import SigningKeysRepository
from .keydir import MANIFEST, load_or_create, problem

__all__ = ["RELOAD_CHECK_SECONDS", "DirectoryKeySource", "KeySource", "key_source"]

log = logging.getLogger("sethub.signing")
RELOAD_CHECK_SECONDS = 1.0  # how often, at most, the keys directory's manifest is looked at


class KeySource(Protocol):
    async def open(self) -> KeySet:
        """The key set, created with one key if there is none yet. SigningKeysError says why
        it cannot be read or created, in words for the operator."""
        ...

    def newer(self, *, look_now: bool = False) -> KeySet | None:
        """A key set changed since the last one returned, or None. Never waits: a source that
        must ask a database does so in the background. `look_now` asks a source that looks
        only every so often to look at once (the JWKS is served from it)."""
        ...

    async def close(self) -> None: ...


def key_source(
    settings: Settings, shared: SigningKeysRepository | None, *, clock: Callable[[], float]
) -> KeySource:
    """The store's keys when it shares them between nodes (PostgreSQL), else the keys dir."""
    if shared is None:
        return DirectoryKeySource(settings.keys_dir, settings.signing_algorithm, clock=clock)
    from .stored_keys import StoredKeySource  # only hubs on a shared store poll it

    return StoredKeySource(
        shared, algorithm=settings.signing_algorithm, keys_dir=settings.keys_dir, clock=clock
    )


class DirectoryKeySource:
    """The key set in a directory, reloaded when its manifest changes (looked at once a second
    at most), so `sethub keys rotate` takes effect in a running hub."""

    def __init__(self, directory: Path, algorithm: str, *, clock: Callable[[], float]) -> None:
        self._directory = directory
        self._algorithm = algorithm
        self._clock = clock
        self._manifest_mtime = 0.0
        self._checked_at = 0.0

    async def open(self) -> KeySet:
        keys, created = load_or_create(self._directory, self._algorithm, now=self._clock())
        if created:
            log.info("generated a %s signing key in %s", self._algorithm, self._directory)
        self._manifest_mtime = self._mtime()
        self._checked_at = time.monotonic()
        return keys

    def newer(self, *, look_now: bool = False) -> KeySet | None:
        if not look_now and time.monotonic() - self._checked_at < RELOAD_CHECK_SECONDS:
            return None
        self._checked_at = time.monotonic()
        mtime = self._mtime()
        if mtime == self._manifest_mtime:
            return None
        try:
            keys = KeySet.load(self._directory)
        except ConfigurationError as exc:  # caught mid-write, or broken: keep the last good set
            log.error(
                "cannot reload the key set in %s: %s",
                self._directory,
                problem(exc, self._directory),
            )
            return None
        self._manifest_mtime = mtime
        log.info("reloaded the key set from %s", self._directory)
        return keys

    def _mtime(self) -> float:
        try:
            return (self._directory / MANIFEST).stat().st_mtime
        except OSError:
            return 0.0

    async def close(self) -> None:
        """Nothing to release: the directory is read on demand."""
