"""`sethub serve`: run the hub until SIGTERM or SIGINT.

Every field of `Settings` is a flag, generated from the model so flags, env vars and the README
table cannot drift apart. The start-up order is the order of what can go wrong: settings, then the
port (nothing is created before it is ours), then the database, then the signing keys; each
failure is one line naming its own cause.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import socket
import sys

from aiohttp import web

from ..app import create_app
from ..config import ConfigError, Settings
from .examples import with_examples
from .listener import bind, is_wildcard, serve_on
from .options import add_config_flag, add_setting_flags, command_settings

__all__ = ["register", "settings_from_args"]

log = logging.getLogger("sethub")
# Seconds aiohttp gives open connections to finish their requests at a stop.
HTTP_SHUTDOWN_TIMEOUT = 5.0
KEY_FLAG_WARNING = (
    "sethub: warning: --secret-key on the command line can be read by every local user"
    " (ps, /proc/PID/cmdline); give it with SETHUB_SECRET_KEY or --secret-key-file instead"
)


# Collections of the youngest generation every this many new container objects, and of each
# older one every this many of the younger (CPython's defaults: 700, 10, 10).
GC_YOUNG_THRESHOLD = 20_000
GC_OLDER_THRESHOLD = 20


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings `serve` runs with; a ConfigError names what the user must change."""
    settings = command_settings(args)
    if is_wildcard(settings.host) and not settings.public_url:
        shown = settings.host or "''"
        raise ConfigError(
            f"--host {shown} listens on every address, so the hub cannot tell its own URL:"
            " give --public-url (it goes into every topic URL, Link header and SET iss claim)"
        )
    return settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the hub",
        **with_examples(
            "# on http://127.0.0.1:8080, data in ./sethub.db and ./sethub-keys; loopback callbacks"
            "\n# allowed (for sethub listen and the examples)",
            "sethub serve --allow-private-callbacks",
            "# behind a proxy, on every address, with a settings file",
            "sethub serve --host 0.0.0.0 --public-url https://hub.example.org --config sethub.toml",
        ),
    )
    add_setting_flags(parser)
    add_config_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.secret_key is not None:
        print(KEY_FLAG_WARNING, file=sys.stderr)
    settings = settings_from_args(args)
    try:
        listeners = bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"sethub: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    if settings.port == 0:  # the hub's URL and issuer carry the port it really has
        settings = settings.model_copy(update={"port": listeners[0].getsockname()[1]})
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(settings, listeners))
    finally:
        for sock in listeners:
            sock.close()
    return 0


def tune_garbage_collection() -> None:
    """Collect cyclic garbage less often than CPython's default, which scans the youngest
    generation every 700 new container objects. Deliveries make a handful each (futures, tasks,
    tuples), nearly all freed by reference counting, so at full fan-out the collector ran every
    few deliveries: ~6% of the event loop's time in a profile. What start-up built lives as long
    as the process, so it is frozen out of every later scan. Only `sethub serve` does this: a
    process that embeds the app keeps its own settings."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(
        max(young, GC_YOUNG_THRESHOLD),
        max(middle, GC_OLDER_THRESHOLD),
        max(old, GC_OLDER_THRESHOLD),
    )


async def serve(settings: Settings, listeners: list[socket.socket]) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT,
    )
    servers: list[asyncio.Server] = []
    try:
        await runner.setup()  # opens the store, then the keys: a failure closes what opened
        servers = await serve_on(
            runner, listeners, header_read_timeout=settings.header_read_timeout
        )
        tune_garbage_collection()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        where = ", ".join(_address(sock) for sock in listeners)
        print(
            f"sethub listening on {where}, hub URL {settings.hub_url}, db {settings.db}",
            flush=True,
        )
        await stop.wait()
        log.info("stopping: finishing in-flight deliveries (up to %ss)", settings.shutdown_timeout)
    finally:
        for server in servers:
            server.close()  # no new connections; the runner then ends the open ones
        await runner.cleanup()


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
