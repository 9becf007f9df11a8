"""Rows to records, the same for both backends: sqlite3.Row and asyncpg.Record both read a
column by name, and the claim statements of both return the same columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..sealing import SecretBox
from .records import DueDelivery, EventKind, Lease

__all__ = ["due_delivery"]


def due_delivery(row: Mapping[str, Any], box: SecretBox, owner: str) -> DueDelivery:
    """A claimed delivery, leased to `owner` under the claim generation the row carries."""
    return DueDelivery(
        id=row["id"],
        event_id=row["event_id"],
        subscription_id=row["subscription_id"],
        attempts=row["attempts"],
        topic=row["topic"],
        callback=row["callback"],
        secret=box.open(row["secret"]),
        content_type=row["content_type"],
        body=row["body"],
        event_created_at=row["created_at"],
        lease=Lease(owner, row["claim_generation"]),
        kind=EventKind(row["kind"]),
        rendered=bool(row["rendered"]),
        audience=row["audience"],
        jti=row["jti"],
    )
