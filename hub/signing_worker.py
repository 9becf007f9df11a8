"""What runs inside a signing process: set_tokens' own signing, in a module a fork server can
preload (see `SetSigner._new_pool`), so a new signing process is a fork, not a fresh import of
the hub. Keys are parsed once per process and kept by kid.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

from set_tokens import SigningKey, sign_claims

__all__ = ["exit_with", "ready", "sign_batch"]

_keys: dict[str, SigningKey] = {}


def sign_batch(
    jobs: list[tuple[dict[str, Any], str]], pems: dict[str, tuple[str, bytes]]
) -> list[str]:
    """One compact JWS per (claims, kid); `pems` maps each kid to (alg, PEM private key)."""
    tokens = []
    for claims, kid in jobs:
        key = _keys.get(kid)
        if key is None:
            alg, pem = pems[kid]
            key = _keys[kid] = SigningKey.from_pem(pem, alg, kid=kid)
        tokens.append(sign_claims(claims, key))
    return tokens


def ready() -> bool:
    """A no-op the pool runs once per process at start-up, so the processes exist early."""
    return True


def exit_with(hub_pid: int) -> None:
    """Pool initializer: this process ends when the hub process does.

    A hub killed with SIGKILL (or by the OOM killer) cannot shut its pool down, and a signing
    process waits on its task queue forever (it holds both ends of it): every such crash left
    its signing processes, and the fork server, behind.
    """
    threading.Thread(target=_watch, args=(hub_pid,), name="sethub-hub-watch", daemon=True).start()


def _watch(hub_pid: int) -> None:
    try:
        handle = os.pidfd_open(hub_pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        while _alive(hub_pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
