"""The signing keys directory: loaded, or created with one key on the first start.

Its problems are named for the operator, once, here: which directory, whether it could not be
read or written, and the cause in a few words (`keyset.json: Permission denied`, `keyset.json is
not valid JSON`), so `sethub serve` never reports them as something else.
"""

from __future__ import annotations

import json
from pathlib import Path

from set_tokens import ConfigurationError, KeySet

__all__ = ["MANIFEST", "SigningKeysError", "load_or_create", "problem"]

MANIFEST = "keyset.json"


class SigningKeysError(RuntimeError):
    """The keys directory cannot be read or written; the message says which and why."""


def load_or_create(directory: Path, algorithm: str, *, now: float) -> tuple[KeySet, bool]:
    """The directory's key set, or a new one with one `algorithm` key saved there (then True)."""
    try:
        if KeySet.exists(directory):
            return KeySet.load(directory), False
    except (OSError, ConfigurationError) as exc:
        raise SigningKeysError(
            f"cannot read signing keys in {directory}: {problem(exc, directory)}"
        ) from exc
    keys = KeySet.with_new_key(algorithm, now=now)
    try:
        keys.save(directory)
    except OSError as exc:
        raise SigningKeysError(
            f"cannot write signing keys in {directory}: {problem(exc, directory)}"
        ) from exc
    return keys, True


def problem(exc: BaseException, directory: Path) -> str:
    """The cause of a key-set failure in a few words, naming files relative to `directory`."""
    cause = exc.__cause__ if isinstance(exc, ConfigurationError) and exc.__cause__ else exc
    if isinstance(cause, json.JSONDecodeError):
        return f"{MANIFEST} is not valid JSON ({cause.msg} at line {cause.lineno})"
    if isinstance(cause, KeyError):
        return f"{MANIFEST} lacks {cause}"
    if isinstance(cause, OSError):
        where = _relative(cause.filename, directory)
        if isinstance(cause, FileExistsError):
            return f"{where or directory} is a file, not a directory"
        if isinstance(cause, NotADirectoryError):
            path = Path(cause.filename or directory)
            blocker = next((parent for parent in path.parents if parent.is_file()), None)
            if blocker is not None:
                return f"{blocker} is a file, not a directory"
        reason = cause.strerror or str(cause)
        return f"{where}: {reason}" if where else reason
    return str(cause)


def _relative(filename: object, directory: Path) -> str | None:
    """A file inside `directory` by its own name, another by its path, the directory as None."""
    if not isinstance(filename, str | Path):
        return None
    path = Path(filename)
    if path == directory:
        return None
    return path.name if path.parent == directory else str(path)
