"""Typed keys for what the application shares between handlers and background work."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .config import Settings
from .dispatch import Dispatcher
from .metrics import Metrics
from .publishing import Publishing
from .store import Store
from .subscribing import Subscribing
from .verification import IntentVerifier

__all__ = [
    "CLOCK",
    "DISPATCHER",
    "METRICS",
    "PUBLISHING",
    "SETTINGS",
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
