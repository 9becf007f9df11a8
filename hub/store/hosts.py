"""The per-host key of a callback when the caller gives none: its host name, lowercased."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["callback_host"]


def callback_host(callback: str) -> str:
    return (urlsplit(callback).hostname or "").lower()
