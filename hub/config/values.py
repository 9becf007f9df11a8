"""The values the settings model is built from: defaults, list splitting, the key file.

Kept apart from `settings` so that the model reads as the list of knobs it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..sealing import parse_key

__all__ = [
    "DEFAULT_LEASE_DEFAULT",
    "DEFAULT_LEASE_MAX",
    "DEFAULT_LEASE_MIN",
    "DEFAULT_RETRY_SCHEDULE",
    "SignatureAlgorithm",
    "flag",
    "read_key_file",
    "split_list",
]

DEFAULT_LEASE_MIN = 60
DEFAULT_LEASE_DEFAULT = 10 * 24 * 3600  # WebSub §8.2: "10 days is a good default"
DEFAULT_LEASE_MAX = 31 * 24 * 3600
# Seconds to wait before attempt 2, 3, ...: about 1.9 days in total before dead-lettering.
DEFAULT_RETRY_SCHEDULE = (
    10.0,
    30.0,
    120.0,
    600.0,
    1800.0,
    3600.0,
    10800.0,
    21600.0,
    43200.0,
    86400.0,
)

SignatureAlgorithm = Literal["sha1", "sha256", "sha384", "sha512"]


def flag(name: str) -> str:
    """The command-line flag of a setting: `claim_ttl` -> `--claim-ttl`."""
    return "--" + name.replace("_", "-")


def split_list(value: Any) -> Any:
    """Accept `a,b,c` wherever a list goes: an env var, a file, and each value of a repeated
    flag (`--allow-topic A,B` is two prefixes, as in SETHUB_ALLOW_TOPIC, never one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return value
    parts: list[Any] = []
    for item in value:
        if isinstance(item, str):
            parts.extend(part.strip() for part in item.split(",") if part.strip())
        else:
            parts.append(item)
    return parts


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise ValueError(f"cannot read --secret-key-file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"--secret-key-file {path} does not hold base64 text") from exc
    try:
        return parse_key(text)
    except ValueError as exc:
        raise ValueError(f"--secret-key-file {path}: {exc}") from exc
