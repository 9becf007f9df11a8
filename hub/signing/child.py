"""What runs inside a signing process: set_tokens' own signing, in a module a fork server can
preload (see `SetSigner`), so a new signing process is a fork, not a fresh import of the hub.
Keys are parsed once per process and kept by kid.

A signing process answers requests on its socket (see `signing_pool`) until the hub's end
closes. That happens when the pool closes it and when the hub dies however it dies, SIGKILL and
the OOM killer included, since the kernel closes a dead process's sockets: no signing process
outlives its hub.
"""

from __future__ import annotations

import pickle
import signal
import socket
import struct
from typing import Any

from set_tokens import SigningKey
from set_tokens.lowlevel import sign_claims

__all__ = ["FRAME_HEADER", "serve", "sign_batch"]

# Every message either way: its length as 4 bytes (network order), then a pickle.
FRAME_HEADER = struct.Struct("!I")

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


def serve(channel: socket.socket) -> None:
    """Answer (function, args) requests with ("ok", result) or ("error", exception) until the
    hub's end of `channel` closes. The requests come from the hub, this process's parent in
    all but name: unpickling them is safe."""
    # Ctrl-C, and a SIGTERM sent to the hub's whole process group or cgroup, are the hub's to
    # act on: it finishes what is being signed, then closes the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with channel, channel.makefile("rb") as incoming, channel.makefile("wb") as outgoing:
        while True:
            header = incoming.read(FRAME_HEADER.size)
            if len(header) < FRAME_HEADER.size:
                return  # the hub closed its end, or died
            (size,) = FRAME_HEADER.unpack(header)
            function, args = pickle.loads(incoming.read(size))  # noqa: S301 (from the hub)
            try:
                answer: tuple[str, Any] = ("ok", function(*args))
            except Exception as exc:
                answer = ("error", exc)
            try:
                payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an answer that cannot be pickled is an error too
                payload = pickle.dumps(("error", RuntimeError(f"{answer[1]!r}: {exc}")))
            outgoing.write(FRAME_HEADER.pack(len(payload)) + payload)
            outgoing.flush()
