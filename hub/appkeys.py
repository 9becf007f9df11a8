"""Typed keys for what the application shares between handlers and background work."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from set_tokens import Catalog

from .config import Settings
from .delivery.dispatcher import Dispatcher
from .delivery.intent_verifier import IntentVerifier
from .intake.bridges.ingestion import Ingestion
from .intake.identity_events import IdentityPublishing
from .intake.publishing import Publishing
from .intake.subscribing import Subscribing
from .metrics import Metrics
from .signing.signer import SetSigner
from .store import Store

__all__ = [
    "CATALOG",
    "CLOCK",
    "DISPATCHER",
    "IDENTITY",
    "INGESTION",
    "METRICS",
    "PUBLISHING",
    "SETTINGS",
    "SIGNER",
    "STORE",
    "SUBSCRIBING",
    "VERIFIER",
]

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Callable[[], float])
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
SUBSCRIBING = web.AppKey("subscribing", Subscribing)
PUBLISHING = web.AppKey("publishing", Publishing)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
VERIFIER = web.AppKey("verifier", IntentVerifier)
IDENTITY = web.AppKey("identity", IdentityPublishing)
INGESTION = web.AppKey("ingestion", Ingestion)
SIGNER = web.AppKey("signer", SetSigner)
CATALOG = web.AppKey("catalog", Catalog)
