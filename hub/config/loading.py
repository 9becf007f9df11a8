"""Where settings come from: flags > `SETHUB_*` environment variables > a TOML file > defaults.

Every `sethub` command loads its settings here, so `tokens`, `deliveries` and `keys` find the
database and keys that `serve` uses. A bad value is reported under the name the user gave it:
the flag (`--claim-ttl`), the env var (`SETHUB_CLAIM_TTL`) or the file's key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource

from ..database_url import PostgresURL, is_postgres
from .settings import Settings, flag

__all__ = ["ConfigError", "load_settings"]

SECRET_SETTINGS = frozenset({"secret_key"})  # their values are never repeated in a message
SHOWN_VALUE_CHARS = 80


class ConfigError(ValueError):
    """A setting has a value the hub cannot run with; the message names the setting."""


def _read_file(path: Path) -> dict[str, tuple[str, Any]]:
    """The file's settings by field name, each with the key as the file spells it."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in Settings.model_fields:
            kind = "a table" if isinstance(value, dict) else "a key"
            raise ConfigError(
                f"config file {path}: unknown setting {key!r} ({kind}); settings are top-level"
                " keys named like the flags of `sethub serve`, e.g. port = 8080"
            )
    return {key.replace("-", "_"): (key, value) for key, value in data.items()}


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags > environment > config file > defaults into one validated `Settings`."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get("SETHUB_CONFIG"):
        config_file = Path(environ["SETHUB_CONFIG"])
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}  # field -> how the user named it
    if config_file is not None:
        for name, (key, value) in _read_file(config_file).items():
            merged[name], origins[name] = value, f"{key} in {config_file}"
    env_source = EnvSettingsSource(Settings, env_prefix="SETHUB_", case_sensitive=False)
    env_source.env_vars = {k.lower(): v for k, v in environ.items() if k.upper() != "SETHUB_CONFIG"}
    for name, value in env_source().items():
        merged[name], origins[name] = value, f"SETHUB_{name.upper()}"
    for name, value in (flags or {}).items():
        if value is not None:
            merged[name], origins[name] = value, flag(name)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], origins)) from exc


def _describe(error: Any, origins: Mapping[str, str]) -> str:
    """One line: the setting as the user named it, what is wrong, and the value if not secret."""
    message = str(error["msg"]).removeprefix("Value error, ")
    location = [str(part) for part in error["loc"]]
    if not location:  # a rule across settings: its message names the flags
        return f"invalid settings: {message}"
    name = location[0]
    where = origins.get(name, flag(name))
    if error["type"] == "extra_forbidden":
        return f"unknown setting {where}"
    if len(location) > 1:
        where += f" (item {location[1]})"
    shown = ""
    if name not in SECRET_SETTINGS and isinstance(error.get("input"), str | int | float):
        value = repr(error["input"])
        if isinstance(error["input"], str) and is_postgres(error["input"]):
            value = repr(str(PostgresURL(error["input"])))  # without its password
        if len(value) <= SHOWN_VALUE_CHARS:
            shown = f" (got {value})"
    return f"invalid {where}: {message}{shown}"
