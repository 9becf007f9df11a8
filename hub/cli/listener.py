"""The listening sockets of `sethub serve`: bound before anything else happens, and served with
deadlines for clients that send nothing or half a request head.

Binding first means a busy port is reported before a database or a key is created, and that
`--port 0` is known as a real port before the hub's URL (its topics, Link headers and every SET's
`iss`) is built from it. Like asyncio's own server, a host name gets one socket per address it
resolves to; with port 0 they all share the port the system picked for the first one.

A connection that sends nothing or half a request head used to stay open for good, so a few
thousand of them used up the hub's file descriptors (security review M4).

Two limits, both in `Settings`:

- `keepalive_timeout` is aiohttp's own: a connection with no complete request head this long
  after it opened, or after its previous response, is closed. Bytes that do not finish a head do
  not restart that timer, so it bounds half-sent heads on a kept-alive connection too.
- `header_read_timeout` bounds a new connection's first request head. aiohttp (3.14) has no such
  limit, so `HeadDeadline` wraps the protocol aiohttp makes for each connection and closes the
  connection when the empty line that ends the head has not arrived in time. It watches only the
  first head: what follows belongs to a request aiohttp is already serving, and its next head
  falls under `keepalive_timeout`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket

from aiohttp import web

__all__ = ["HeadDeadline", "bind", "is_wildcard", "serve_on"]

log = logging.getLogger("sethub.http")

# The end of a request head: an empty line (RFC 9112 §2.1); bare LF line ends are tolerated.
HEAD_END = re.compile(rb"\n\r?\n")
LISTEN_BACKLOG = 128  # aiohttp's default


class HeadDeadline(asyncio.Protocol):
    """One connection: aiohttp's protocol, closed if its first request head is late."""

    def __init__(
        self, inner: asyncio.Protocol, timeout: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._inner = inner
        self._timeout = timeout
        self._loop = loop
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._started = False  # a byte of the request line has arrived
        self._tail = b""  # the last bytes of the head so far: its end may straddle two reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = self._loop.call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            self._watch(data)
        self._inner.data_received(data)

    def _watch(self, data: bytes) -> None:
        if not self._started:
            data = data.lstrip(b"\r\n")  # empty lines before a request line are ignored
            self._started = bool(data)
        seen = self._tail + data
        if self._started and HEAD_END.search(seen):
            self._stop_timer()
        else:
            self._tail = seen[-2:]

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._tail = b""

    def _expire(self) -> None:
        self._timer = None
        # Debug only: one line per connection would let a slow client fill the log instead.
        log.debug("closing a connection: no request head within %ss", self._timeout)
        if self._transport is not None:
            self._transport.close()


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
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def serve_on(
    runner: web.AppRunner, sockets: list[socket.socket], *, header_read_timeout: float
) -> list[asyncio.Server]:
    """Accept connections on `sockets` (from `bind`) for `runner`'s application, set up already."""
    server = runner.server
    if server is None:
        raise RuntimeError("serve_on() needs a runner that has been set up")
    loop = asyncio.get_running_loop()
    return [
        await loop.create_server(
            lambda: HeadDeadline(server(), header_read_timeout, loop),
            sock=sock,
            backlog=LISTEN_BACKLOG,
        )
        for sock in sockets
    ]
