"""The listening sockets of `sethub serve`, bound before anything else happens.

Binding first means a busy port is reported before a database or a key is created, and that
`--port 0` is known as a real port before the hub's URL (its topics, Link headers and every SET's
`iss`) is built from it. Like asyncio's own server, a host name gets one socket per address it
resolves to; with port 0 they all share the port the system picked for the first one.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["bind", "is_wildcard"]

BACKLOG = 128  # aiohttp's default


def is_wildcard(host: str) -> bool:
    """True for a host that means "every address" (0.0.0.0, ::, or empty)."""
    if host in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening, non-blocking sockets on `host`:`port`; OSError if any address cannot be had."""
    found = socket.getaddrinfo(
        host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    addresses = list(dict.fromkeys((info[0], info[4]) for info in found))
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
