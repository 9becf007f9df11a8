"""Settings flags for every command, generated from the one `Settings` model.

`serve` takes every setting as a flag; a maintenance command (`tokens`, `deliveries`, `keys`)
takes the few it needs plus `--config`, and reads everything else from the same environment
variables and file through the same `load_settings`. So a `SETHUB_DB` or a `--config` file that
`serve` honours is honoured by every command, and a value is checked the same way everywhere.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import Settings, flag, load_settings
from ..config.reference import shown_default

__all__ = ["add_config_flag", "add_setting_flags", "command_settings", "shown_default"]

REPEATABLE = {
    "allow_topic": "PREFIX[,PREFIX]",
    "allow_network": "CIDR[,CIDR]",
    "agreed_credential_type": "TYPE[,TYPE]",
}
NEVER_SHOWN = frozenset({"secret_key"})  # a default secret is never echoed, even an empty one


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin is list


def _help(name: str) -> str:
    field = Settings.model_fields[name]
    default = None if name in NEVER_SHOWN else field.get_default(call_default_factory=True)
    shown = shown_default(default)
    where = f"env SETHUB_{name.upper()}" + (f"; default {shown}" if shown is not None else "")
    return f"{field.description} ({where})".replace("%", "%%")


def add_setting_flags(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """A flag per setting (every one by default). Unset flags stay None, so the environment and
    the config file still apply: flags win only when given."""
    names = tuple(Settings.model_fields if names is None else names)
    parser.set_defaults(setting_flags=names)
    for name in names:
        field = Settings.model_fields[name]
        option, help_text = flag(name), _help(name)
        if _is_bool(field.annotation):
            parser.add_argument(
                option, dest=name, action=argparse.BooleanOptionalAction, default=None,
                help=help_text,
            )
        elif name in REPEATABLE:
            parser.add_argument(
                option, dest=name, action="append", default=None, metavar=REPEATABLE[name],
                help=help_text,
            )
        elif _is_list(field.annotation):
            parser.add_argument(option, dest=name, default=None, metavar="A,B,...", help=help_text)
        elif field.annotation in (Path, Path | None):
            parser.add_argument(option, dest=name, type=Path, default=None, metavar="PATH",
                                help=help_text)
        else:
            parser.add_argument(option, dest=name, default=None, help=help_text)


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="TOML file with settings (env SETHUB_CONFIG)",
    )


def command_settings(args: argparse.Namespace) -> Settings:
    """The command's settings: its flags over SETHUB_* env vars over the config file. Raises
    `ConfigError` naming the flag, env var or file key that is wrong."""
    flags = {name: getattr(args, name, None) for name in getattr(args, "setting_flags", ())}
    return load_settings(flags, config_file=getattr(args, "config", None))
