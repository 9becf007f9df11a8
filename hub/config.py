"""The one settings model of the hub.

Values come from, highest priority first: command-line flags, `SETHUB_*` environment variables,
an optional TOML file (`--config` / `SETHUB_CONFIG`), and the defaults below. The defaults are the
safe choice: loopback listener, no private callback addresses, only the hub's own topics, short
leases, bounded timeouts everywhere.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_LEASE_MIN = 60
DEFAULT_LEASE_DEFAULT = 10 * 24 * 3600  # WebSub §8.2: "10 days is a good default"
DEFAULT_LEASE_MAX = 31 * 24 * 3600
# Seconds to wait before attempt 2, 3, ...: about 1.9 days in total before dead-lettering.
DEFAULT_RETRY_SCHEDULE = (
    10.0,
    30.0,
    120.0,
    600.0,
    1800.0,
    3600.0,
    10800.0,
    21600.0,
    43200.0,
    86400.0,
)

SignatureAlgorithm = Literal["sha1", "sha256", "sha384", "sha512"]


class ConfigError(ValueError):
    """A setting has a value the hub cannot run with; the message names the setting."""


def _split_list(value: Any) -> Any:
    """Accept `a,b,c` from env vars and files as well as real lists."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of `sethub serve`: a flag `--name-with-dashes` and an env var `SETHUB_NAME`."""

    model_config = SettingsConfigDict(env_prefix="SETHUB_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    db: Path = Path("sethub.db")
    public_url: str | None = None
    allow_private_callbacks: bool = False
    allow_topic: Annotated[list[str], NoDecode] = Field(default_factory=list)
    open_publish: bool = False

    lease_min: int = Field(default=DEFAULT_LEASE_MIN, gt=0)
    lease_default: int = Field(default=DEFAULT_LEASE_DEFAULT, gt=0)
    lease_max: int = Field(default=DEFAULT_LEASE_MAX, gt=0)

    retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE)
    )
    retry_jitter: float = Field(default=0.2, ge=0, le=1)
    retry_after_max: float = Field(default=3600.0, ge=0)

    delivery_timeout: float = Field(default=10.0, gt=0)
    verify_timeout: float = Field(default=10.0, gt=0)
    fetch_timeout: float = Field(default=10.0, gt=0)
    fetch_max_bytes: int = Field(default=1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    max_concurrent_deliveries: int = Field(default=64, gt=0)
    max_concurrent_per_subscription: int = Field(default=2, gt=0)
    max_concurrent_verifications: int = Field(default=16, gt=0)
    signature_algorithm: SignatureAlgorithm = "sha256"

    claim_ttl: float = Field(default=60.0, gt=0)
    poll_interval: float = Field(default=1.0, gt=0)
    shutdown_timeout: float = Field(default=10.0, ge=0)
    retention: float = Field(default=7 * 24 * 3600.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("allow_topic", "retry_schedule", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("allow_topic")
    @classmethod
    def _http_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not prefix.startswith(("http://", "https://")):
                raise ValueError(f"{prefix!r} is not an http(s) URL prefix")
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must not be negative")
        return value

    @model_validator(mode="after")
    def _lease_bounds(self) -> Settings:
        if not self.lease_min <= self.lease_default <= self.lease_max:
            raise ValueError("lease bounds must satisfy lease_min <= lease_default <= lease_max")
        return self

    @property
    def base_url(self) -> str:
        """The URL the hub is reached at, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}/hub"

    def topic_url(self, name: str) -> str:
        return f"{self.base_url}/topics/{name}"

    @property
    def max_attempts(self) -> int:
        """The first try plus one per scheduled retry."""
        return len(self.retry_schedule) + 1


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return {key.replace("-", "_"): value for key, value in data.items()}


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
    merged: dict[str, Any] = _read_file(config_file) if config_file else {}
    env_source = EnvSettingsSource(Settings, env_prefix="SETHUB_", case_sensitive=False)
    env_source.env_vars = {k.lower(): v for k, v in environ.items() if k.upper() != "SETHUB_CONFIG"}
    merged.update(env_source())
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from exc
