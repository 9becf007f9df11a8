"""Who calls an event what: the vendors' names for catalog events, each citing its source.

An `Alias` names the vendor and the documentation page (a key of `_sources.VENDOR_SOURCES`) the
name is taken from, so a test can check every alias against the vendors' own lists. The builders
below spell each vendor's conventions once: cidaas's two naming schemes, WSO2's event URIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

__all__ = ["WSO2_EVENT_BASE", "Alias", "Entry", "asgardeo", "cidaas", "loginradius", "logto"]

WSO2_EVENT_BASE = "https://schemas.identity.wso2.org/events/"


@dataclass(frozen=True)
class Alias:
    name: str
    vendor: str
    source: str  # a key of `_sources.VENDOR_SOURCES`


@dataclass(frozen=True)
class Entry:
    name: str
    standard: str  # "caep" | "risc" | "sethub"
    uri_name: str  # the last segment of the event-type URI
    topic: str
    model: type[BaseModel]
    aliases: tuple[Alias, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)


def logto(*names: str, source: str = "logto-events") -> tuple[Alias, ...]:
    return tuple(Alias(name, "logto", source) for name in names)


def loginradius(*names: str, source: str = "loginradius-webhooks") -> tuple[Alias, ...]:
    return tuple(Alias(name, "loginradius", source) for name in names)


def cidaas(*names: str) -> tuple[Alias, ...]:
    """cidaas documents two schemes: USER_* (admin guide) and ACCOUNT_*/LOGIN_* (API codes)."""
    return tuple(
        Alias(name, "cidaas", "cidaas-table" if _api_code(name) else "cidaas-settings")
        for name in names
    )


_SEED_ONLY = frozenset(
    {"USER_LOGIN", "USER_LOGIN_FAILURE", "USER_CREATED", "USER_MODIFIED", "USER_DELETED",
     "USER_ENABLED", "USER_DISABLED", "USER_EMAIL_VERIFIED", "USER_MOBILE_NO_VERIFIED",
     "USER_IDENTITY_ADDED", "USER_IDENTITY_REMOVED", "USER_PASSWORD_CHANGED",
     "USER_PASSWORD_RESET_INITIATE", "USER_PASSWORD_RESET", "USER_BLOCKED", "TOKEN_RENEWED",
     "MFA_INITIATED", "MFA_RE_INITIATED", "MFA_VERIFIED", "USER_CREATED_WITH_INVITE"}
)


def _api_code(name: str) -> bool:
    return name not in _SEED_ONLY


def asgardeo(channel: str, *names: str, source: str = "asgardeo-events") -> tuple[Alias, ...]:
    """Each WSO2 event under its short name and its full URI (`.../events/CHANNEL/event-type/X`)."""
    return tuple(
        alias
        for name in names
        for alias in (
            Alias(name, "asgardeo", source),
            Alias(f"{WSO2_EVENT_BASE}{channel}/event-type/{name}", "asgardeo", source),
        )
    )
