"""A real hub served from an event loop in a background thread, for synchronous tests.

Tests talk to it with `http.client` over one keep-alive connection, so they can send exact bytes
(header values that are not UTF-8, a form in any charset) and hundreds of requests a second. Every
log record the hub writes at ERROR, or with a traceback, is kept for the test to check.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import sqlite3
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .support import RunningHub, Subscriber, start_hub, start_subscriber, stop_hub

__all__ = ["Answer", "LiveHub", "live_hub"]

T = TypeVar("T")
CALL_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Kept(logging.Handler):
    """Keeps the records a hub must never write for a client's input: errors and tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class LiveHub:
    hub: RunningHub
    subscriber: Subscriber
    loop: asyncio.AbstractEventLoop
    _kept: _Kept = field(default_factory=_Kept)
    _connection: http.client.HTTPConnection | None = None

    @property
    def port(self) -> int:
        return self.hub.settings.port

    @property
    def db(self) -> Path:
        return self.hub.settings.db

    @property
    def errors(self) -> list[str]:
        """Every error or traceback logged so far, formatted."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return [formatter.format(record) for record in self._kept.records]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT_SECONDS)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str | bytes] | None = None,
    ) -> Answer:
        """One request on the kept-alive connection; header values may be any bytes.

        A connection the hub closed after its last answer (it may, as after a body it could not
        drain) fails as soon as it is reused: the request is then sent once more on a new one.
        A request that fails on a new connection fails the test.
        """
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection = self._connection
        reused = connection.sock is not None
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            if body or method not in ("GET", "HEAD"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()  # reconnects by itself after `Connection: close`
            return Answer(response.status, response.headers, response.read())
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.close()
            if reused:
                return self.request(method, path, body, headers)
            raise
        except Exception:
            self.close()  # the next request starts on a new connection
            raise

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Read the hub's database through a separate read-only connection."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@contextmanager
def live_hub(directory: Path, **overrides: Any) -> Iterator[LiveHub]:
    """A hub (with `overrides` on the test settings), a subscriber and topic `news`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-hub", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(CALL_TIMEOUT_SECONDS)

    kept = _Kept()
    root = logging.getLogger()
    root.addHandler(kept)
    hub = run(start_hub(directory, **overrides))
    subscriber = run(start_subscriber())
    try:
        run(hub.create_topic("news"))
        live = LiveHub(hub, subscriber, loop, kept)
        yield live
        live.close()
    finally:
        run(stop_hub(hub))
        if subscriber.server is not None:
            run(subscriber.server.close())
        root.removeHandler(kept)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
