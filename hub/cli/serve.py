"""`sethub serve`: run the hub until SIGTERM or SIGINT.

Every field of `Settings` is a flag, generated from the model so flags, env vars and the README
table cannot drift apart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
import typing
from pathlib import Path
from typing import Any

from aiohttp import web

from ..app import create_app
from ..config import ConfigError, Settings, load_settings
from ..store import StoreOpenError

__all__ = ["register", "settings_from_args"]

log = logging.getLogger("sethub")
REPEATABLE = frozenset({"allow_topic", "allow_network", "agreed_credential_type"})


# Collections of the youngest generation every this many new container objects, and of each
# older one every this many of the younger (CPython's defaults: 700, 10, 10).
GC_YOUNG_THRESHOLD = 20_000
GC_OLDER_THRESHOLD = 20


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin is list


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name == "secret_key":
            default = None  # never echo a secret, even a default one
        help_text = f"{field.description} (env SETHUB_{name.upper()}; default {default!r})"
        if _is_bool(field.annotation):
            parser.add_argument(
                _flag(name),
                dest=name,
                action="store_const",
                const=True,
                default=None,
                help=help_text,
            )
        elif name in REPEATABLE:
            parser.add_argument(
                _flag(name), dest=name, action="append", default=None, help=help_text
            )
        elif _is_list(field.annotation):
            parser.add_argument(
                _flag(name), dest=name, default=None, metavar="A,B,...", help=help_text
            )
        else:
            parser.add_argument(_flag(name), dest=name, default=None, help=help_text)
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML file with settings (env SETHUB_CONFIG)"
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(flags, config_file=args.config)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the hub")
    add_settings_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(settings))
    except StoreOpenError as exc:
        print(f"sethub: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"sethub: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
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


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, shutdown_timeout=5.0)
        await site.start()
        tune_garbage_collection()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(
            f"sethub listening on {site.name}, hub URL {settings.hub_url}, db {settings.db}",
            flush=True,
        )
        await stop.wait()
        log.info("stopping: finishing in-flight deliveries (up to %ss)", settings.shutdown_timeout)
    finally:
        await runner.cleanup()
