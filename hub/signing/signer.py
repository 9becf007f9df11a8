"""The hub's SET signer: one signed token per (identity event, subscription), off the event loop.

The key set (set_tokens' KeySet) comes from a `KeySource`: the node's `--keys-dir` on SQLite, the
database every node shares on PostgreSQL (`keysource.py`). The first start creates one. A changed
set is picked up while the hub runs, so `sethub keys rotate` needs no restart, and the JWKS
always lists every published key.

Every algorithm signs in a pool of processes, never on the event loop: RSA costs about a
millisecond a token and even ES256 (~0.08 ms) was a fifth of the loop's time at full fan-out.
SETs due in the same moment travel to a signing process as one batch, so the cost of crossing
processes is paid per batch, not per token, and fan-out uses every core.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from set_tokens import KeySet

from ..batching import Batcher
from ..config import Settings
from ..store import DueDelivery
from . import child
from .keysource import DirectoryKeySource, KeySource
from .pool import SigningPool, SigningProcessDied

__all__ = ["SetSigner", "callback_origin"]

log = logging.getLogger("sethub.signing")
EVENT_CACHE_SIZE = 1024  # decoded events: one fan-out renders the same event many times


def callback_origin(callback: str) -> str:
    """The default audience of a subscription: scheme://host[:port] of its callback."""
    parts = urlsplit(callback)
    return f"{parts.scheme}://{parts.netloc}"


class SetSigner:
    def __init__(
        self, settings: Settings, keys: KeySource | None = None, *, clock: Any = time.time
    ) -> None:
        """`keys` defaults to the keys dir; `open` reads (or creates) the key set."""
        self._settings = settings
        self._clock = clock
        self._source = (
            keys
            if keys is not None
            else DirectoryKeySource(settings.keys_dir, settings.signing_algorithm, clock=clock)
        )
        self._keys: KeySet | None = None
        self._pems: dict[str, tuple[str, bytes]] = {}
        self._events: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._workers = settings.signing_workers or os.cpu_count() or 1
        self._pool = self._new_pool()
        self._batches: Batcher[dict[str, Any], str] = Batcher(
            self._sign_batch, concurrency=self._workers
        )

    async def open(self) -> None:
        """Read the key set, creating it on the first start (SigningKeysError says why not)."""
        self._keys = await self._source.open()

    async def warm_up(self) -> None:
        """Start the signing processes now, not when the first SET after start-up is due. The
        first one may wait for the fork server to import: that happens on a thread, so the
        event loop serves meanwhile."""
        await self._pool.start()

    def _new_pool(self) -> SigningPool:
        # Not fork: the hub process has threads (the database) that a fork would copy. A fork
        # server imports the main module and the signing module once and forks every signing
        # process from that; spawn (where there is no fork server) imports them in each one.
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["__main__", child.__name__])
        else:
            context = multiprocessing.get_context("spawn")
        return SigningPool(self._workers, context)

    def _current(self, *, look_now: bool = False) -> KeySet:
        """The key set, replaced first by a newer one if the source has it."""
        newer = self._source.newer(look_now=look_now)
        if newer is not None:
            self._keys = newer
        if self._keys is None:
            raise RuntimeError("the signer is not open")
        return self._keys

    def jwks(self) -> dict[str, Any]:
        # The JWKS is never staler than the source can tell: a keys dir is looked at now.
        return self._current(look_now=True).jwks(now=self._clock())

    def _event(self, item: DueDelivery) -> dict[str, Any]:
        event = self._events.get(item.event_id)
        if event is None:
            event = self._events[item.event_id] = json.loads(item.body)
            if len(self._events) > EVENT_CACHE_SIZE:
                self._events.popitem(last=False)
        return event

    def claims_for(self, item: DueDelivery, *, now: float) -> dict[str, Any]:
        event = self._event(item)
        claims: dict[str, Any] = {
            "iss": self._settings.set_issuer,
            "iat": int(now),
            "jti": item.jti or uuid.uuid4().hex,
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
        token = await self._batches.submit(self.claims_for(item, now=self._clock()))
        if token is None:  # _sign_batch answers every job; this would be a bug here
            raise RuntimeError("the signing pool returned no token")
        return token.encode()

    async def _sign_batch(self, batch: list[dict[str, Any]]) -> list[str]:
        """Every SET of a batch is signed with the key active when the batch leaves: the key
        set is looked at (replaced if its source has a newer one) once per batch, not per SET."""
        key = self._current().signing_key(now=self._clock())
        if key.kid not in self._pems:
            self._pems[key.kid] = (key.alg, key.private_pem())
        pems = {key.kid: self._pems[key.kid]}
        work = [(claims, key.kid) for claims in batch]
        try:
            return await self._pool.call(child.sign_batch, work, pems)
        except SigningProcessDied as exc:
            # Killed from outside (the OOM killer, a signal): the pool has started another.
            log.error("%s; signing the batch again", exc)
            return await self._pool.call(child.sign_batch, work, pems)

    async def close(self) -> None:
        """After the dispatcher has stopped: let the batches being signed finish (for up to
        `shutdown_timeout`; a batch takes milliseconds), then end the signing processes. A
        batch left running would read from a closed pool after its caller had gone."""
        await self._batches.close(timeout=self._settings.shutdown_timeout)
        await self._pool.close()
        await self._source.close()
