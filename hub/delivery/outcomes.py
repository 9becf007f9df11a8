"""What a subscriber's answer means for a delivery, read defensively: whatever the answer holds,
judging it never raises, and what it yields is safe to store and to log.

A subscriber controls every byte of its answer. Its RFC 8935 `err` code is kept only if it
looks like one (short printable ASCII); anything else in a 400 is "not an RFC 8935 rejection",
an ordinary failure that is retried. (A lone surrogate stored as the code once failed the shared
settlement write of every delivery in the batch: security review H2.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .retry import parse_retry_after

__all__ = ["Outcome", "Verdict", "classify", "judge", "readable", "rejection_code"]

# RFC 8935 §2.3 codes are short tokens ("invalid_request", "authentication_failed", ...).
RFC8935_ERR = re.compile(r"[\x21-\x7e]{1,64}")
MAX_ERROR_CHARS = 200  # an attempt's error text as stored and logged
NOT_A_REJECTION = "(not an RFC 8935 rejection)"
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Outcome(StrEnum):
    DELIVERED = "delivered"
    GONE = "gone"
    REJECTED = "rejected"  # RFC 8935 §2.3: the receiver refused this SET for good
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    error: str | None = None  # None when delivered; `readable`
    rejection: str | None = None  # the RFC 8935 err code of a rejection
    retry_after: float | None = None  # seconds the subscriber asked to wait


def readable(text: str) -> str:
    """`text` as printable ASCII of bounded length (non-ASCII escaped), fit for the store and
    the logs whatever it came from."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    escaped = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped)
    if len(escaped) > MAX_ERROR_CHARS:
        escaped = escaped[: MAX_ERROR_CHARS - 3] + "..."
    return escaped


def rejection_code(status: int, content_type: str, body: bytes) -> str | None:
    """The RFC 8935 `err` of a 400 answer to a SET delivery, or None if it is not one."""
    if status != 400 or not content_type.startswith("application/json"):
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond the stack
        return None
    err = document.get("err") if isinstance(document, dict) else None
    if isinstance(err, str) and RFC8935_ERR.fullmatch(err):
        return err
    return None


def classify(status: int, *, rejected: bool = False) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    if rejected:
        return Outcome.REJECTED
    return Outcome.FAILED


def judge(
    status: int, headers: Mapping[str, str], body: bytes, *, identity: bool, now: float
) -> Verdict:
    """The outcome of an answer with this status line, headers and (start of a) body. An
    identity delivery's 400 may be an RFC 8935 rejection; a Retry-After that cannot be read is
    ignored."""
    rejection = None
    if identity:
        rejection = rejection_code(status, headers.get("Content-Type", ""), body)
    outcome = classify(status, rejected=rejection is not None)
    if outcome is Outcome.DELIVERED:
        return Verdict(outcome)
    if rejection is not None:
        error = f"HTTP 400 {rejection}"
    elif identity and status == 400:
        error = f"HTTP 400 {NOT_A_REJECTION}"
    else:
        error = f"HTTP {status}"
    try:
        retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
    except (ValueError, OverflowError):  # e.g. digits that are not ASCII digits
        retry_after = None
    return Verdict(outcome, error, rejection, retry_after)
