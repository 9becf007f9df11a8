"""`create_app(settings)`: the whole hub wired in one screen.

    POST /hub ─► websub ─► subscribing ─► store.intents ─► IntentVerifier ─► callback GET
                       └─► publishing ─► store.deliveries ─► Dispatcher ─► callback POST
    POST /events ─► identity events ─┘       (the same store path, in group commits)
    POST /ingest/{source} ─► vendor bridge ─► identity events
    /topics/{name} discovery and content, /healthz, /metrics

Each resource is opened in its own cleanup context (acquire, yield, release), in order: store,
signer, domain services and background workers, janitor. A stop first stops taking work: the
listening sockets close, then (on_shutdown, while aiohttp still lets requests in flight finish)
identity publishing takes no more events and lets the group commits already taken finish, up to
`shutdown_timeout`, so every publisher gets an answer. Then the cleanup contexts run backwards:
the janitor stops, the workers stop claiming and let in-flight work finish up to
`shutdown_timeout`, the signer signs what is queued and ends its processes, and the store
closes last, with nothing left running that could still use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from set_tokens import Catalog
from set_tokens.events import DEFAULT_NAMESPACE

from .appkeys import (
    CATALOG,
    CLOCK,
    DISPATCHER,
    IDENTITY,
    INGESTION,
    METRICS,
    PUBLISHING,
    SETTINGS,
    SIGNER,
    STORE,
    SUBSCRIBING,
    VERIFIER,
)
from .config import Settings
from .delivery.dispatcher import Dispatcher
from .delivery.intent_verifier import IntentVerifier
from .intake.bridges.ingestion import Ingestion
from .intake.client_errors import quiet_client_errors
from .intake.identity_events import IdentityPublishing
from .intake.middleware import count_requests, error_middleware
from .intake.publishing import Publishing
from .intake.routes import events, hub_endpoint, ingest, jwks, ops, topics
from .intake.subscribing import Subscribing
from .intake.topic_policy import TopicPolicy
from .metrics import Metrics
from .outbound import DestinationPolicy, OutboundClient
from .outbound.loggable import loggable_url
from .signing.keysource import key_source
from .signing.signer import SetSigner
from .store import WorkKind, open_store, seal_plaintext_secrets

__all__ = ["create_app"]

log = logging.getLogger("sethub")


def node_id() -> str:
    """Owner name for claims: unique per process, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> web.Application:
    quiet_client_errors()
    app = web.Application(
        client_max_size=settings.max_request_bytes,
        middlewares=[count_requests, error_middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app.add_routes(hub_endpoint.routes)
    app.add_routes(topics.routes)
    app.add_routes(ops.routes)
    app[CATALOG] = Catalog(
        namespace=settings.event_namespace or DEFAULT_NAMESPACE,
        agreed_credential_types=tuple(settings.agreed_credential_type),
    )
    app.add_routes(events.routes)
    app.add_routes(ingest.routes)
    app.add_routes(jwks.routes)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_signer)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_janitor)
    app.on_shutdown.append(_stop_taking_events)
    return app


async def _stop_taking_events(app: web.Application) -> None:
    """Refuse new identity publishes and let those taken commit, while their callers still
    wait for the answer (aiohttp cancels requests in flight only after on_shutdown)."""
    if IDENTITY in app:
        await app[IDENTITY].close(app[SETTINGS].shutdown_timeout)


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await open_store(
        settings.db,
        secret_key=settings.secret_key_bytes,
        max_bytes=settings.db_max_bytes,
        busy_timeout=settings.db_busy_timeout,
        clock=app[CLOCK],
    )
    # A SQLite store has one user, this process: claims of a killed predecessor go at once. A
    # PostgreSQL store is shared by the hub's nodes and releases nothing (see Store.release_claims).
    await store.release_claims()
    if settings.secret_key_bytes is not None:
        sealed = await seal_plaintext_secrets(store, settings.secret_key_bytes)
        if sealed:
            log.warning("sealed %d hub.secrets stored in plaintext before the secret key", sealed)
    app[STORE] = store
    yield
    await store.close()


async def _signer(app: web.Application) -> AsyncIterator[None]:
    # The keys dir on SQLite; on PostgreSQL the key set every node of the hub shares.
    keys = key_source(app[SETTINGS], app[STORE].signing_keys, clock=app[CLOCK])
    signer = SetSigner(app[SETTINGS], keys, clock=app[CLOCK])
    try:
        await signer.open()
    except BaseException:
        await signer.close()
        raise
    app[SIGNER] = signer
    warming = asyncio.create_task(signer.warm_up())  # in the background: serving starts now
    yield
    warming.cancel()
    await asyncio.gather(warming, return_exceptions=True)
    await signer.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, store, clock, metrics = app[SETTINGS], app[STORE], app[CLOCK], app[METRICS]
    owner = node_id()
    policy = DestinationPolicy(
        allow_private=settings.allow_private_callbacks, allowed_networks=settings.allowed_networks
    )
    catalog = app[CATALOG]
    identity_topics = catalog.topics()
    async with OutboundClient(policy) as client:
        verifier = IntentVerifier(store, client, settings, metrics, owner=owner, clock=clock)
        dispatcher = Dispatcher(
            store,
            client,
            settings,
            metrics,
            owner=owner,
            clock=clock,
            renderer=app[SIGNER].render,
        )

        async def topic_exists(name: str) -> bool:
            return name in identity_topics or await store.topics.get(name) is not None

        topic_policy = TopicPolicy(settings, topic_exists)
        app[VERIFIER] = verifier
        app[DISPATCHER] = dispatcher
        app[SUBSCRIBING] = Subscribing(
            store,
            topic_policy,
            policy,
            settings,
            catalog,
            clock=clock,
            wake_verifier=verifier.wake,
        )
        app[IDENTITY] = IdentityPublishing(
            store, catalog, settings, metrics, clock=clock, wake_dispatcher=dispatcher.work_stored
        )
        app[PUBLISHING] = Publishing(
            store,
            topic_policy,
            client,
            settings,
            metrics,
            clock=clock,
            wake_dispatcher=dispatcher.work_stored,
        )

        # Work stored through this store (and, on a shared store, by the other nodes: LISTEN /
        # NOTIFY) wakes its worker; intake also wakes them for work it stored itself.
        def work_stored(kind: WorkKind) -> None:
            if kind is WorkKind.DELIVERIES:
                dispatcher.work_stored()
            else:
                verifier.wake()

        store.on_work_stored(work_stored)
        app[INGESTION] = Ingestion(
            store, catalog, app[IDENTITY], metrics, admit=app[PUBLISHING].admit
        )
        verifier.start()
        dispatcher.start()
        yield
        await asyncio.gather(
            app[IDENTITY].close(settings.shutdown_timeout),  # done already, unless no on_shutdown
            verifier.stop(settings.shutdown_timeout),
            dispatcher.stop(settings.shutdown_timeout),
        )


async def _janitor(app: web.Application) -> AsyncIterator[None]:
    """Enforce lease expiry (WebSub §5.3.1) and forget finished work after the retention period.
    Of several nodes on one database, only the one whose turn it is sweeps (`sweeps_here`)."""
    store, clock, settings, metrics = app[STORE], app[CLOCK], app[SETTINGS], app[METRICS]

    async def sweep_forever() -> None:
        while True:
            try:
                if not await store.sweeps_here():
                    await asyncio.sleep(settings.sweep_interval)
                    continue
                expired = await store.subscriptions.purge_expired(now=clock())
                if expired:
                    log.info("purged %d expired subscriptions", expired)
                disabled = await store.subscriptions.disable_failing(
                    failing_before=clock() - settings.disable_failing_after, now=clock()
                )
                for subscription in disabled:
                    metrics.disabled.inc()
                    log.warning(
                        "disabled subscription %s of %s at %s: failing for over %ss",
                        subscription.id,
                        subscription.topic,
                        loggable_url(subscription.callback),
                        settings.disable_failing_after,
                    )
                await store.deliveries.purge_finished(older_than=clock() - settings.retention)
            except Exception:
                log.exception("janitor sweep failed")
            await asyncio.sleep(settings.sweep_interval)

    task = asyncio.create_task(sweep_forever(), name="sethub-janitor")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
