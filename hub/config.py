"""The one settings model of the hub.

Values come from, highest priority first: command-line flags, `SETHUB_*` environment variables,
an optional TOML file (`--config` / `SETHUB_CONFIG`), and the defaults below. The defaults are the
safe choice: loopback listener, no private callback addresses, only the hub's own topics, short
leases, bounded timeouts everywhere.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from .sealing import parse_key

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

    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="port to listen on",
    )
    db: Path = Field(
        default=Path("sethub.db"), description="SQLite database file (created if missing)"
    )
    db_max_bytes: int = Field(
        default=0,
        ge=0,
        description="largest the database may grow; publishes then get 503 (0: off)",
    )
    public_url: str | None = Field(
        default=None,
        description="URL the hub is reached at, for Link headers and topic URLs (default http://HOST:PORT)",
    )
    allow_private_callbacks: bool = Field(
        default=False,
        description="allow callbacks and topics on loopback, private and link-local addresses",
    )
    allow_network: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDR the hub may call although it is private (repeatable), e.g. 10.1.0.0/16",
    )
    https_only_callbacks: bool = Field(
        default=False, description="refuse http:// callbacks (deliveries only over TLS)"
    )
    allow_topic: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="external topic URL prefix to accept (repeatable; default: own topics only)",
    )
    open_publish: bool = Field(
        default=False,
        description="let anyone ping allowed external topics without a publisher token",
    )

    lease_min: int = Field(
        default=DEFAULT_LEASE_MIN,
        gt=0,
        description="shortest lease granted, seconds",
    )
    lease_default: int = Field(
        default=DEFAULT_LEASE_DEFAULT,
        gt=0,
        description="lease granted when none is asked for, seconds",
    )
    lease_max: int = Field(
        default=DEFAULT_LEASE_MAX,
        gt=0,
        description="longest lease granted, seconds",
    )

    retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE),
        description="seconds before each retry of a failed delivery; its length is the budget",
    )
    retry_jitter: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="fraction by which each retry delay is randomly spread",
    )
    retry_after_max: float = Field(
        default=3600.0,
        ge=0,
        description="longest Retry-After honoured, seconds",
    )

    delivery_timeout: float = Field(
        default=10.0,
        gt=0,
        description="timeout of one delivery POST, seconds",
    )
    verify_timeout: float = Field(
        default=10.0,
        gt=0,
        description="timeout of one verification GET, seconds",
    )
    fetch_timeout: float = Field(
        default=10.0,
        gt=0,
        description="timeout of fetching an external topic on publish, seconds",
    )
    fetch_max_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="largest external topic body fetched, bytes",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="largest request body accepted, bytes",
    )
    max_concurrent_deliveries: int = Field(
        default=64,
        gt=0,
        description="delivery requests in flight at once",
    )
    max_concurrent_per_subscription: int = Field(
        default=2,
        gt=0,
        description="delivery requests in flight at once to one subscription",
    )
    max_concurrent_verifications: int = Field(
        default=16,
        gt=0,
        description="verification requests in flight at once",
    )
    signature_algorithm: SignatureAlgorithm = Field(
        default="sha256", description="HMAC of X-Hub-Signature: sha1, sha256, sha384 or sha512"
    )

    claim_ttl: float = Field(
        default=60.0,
        gt=0,
        description="how long a claimed delivery is leased to a worker, seconds"
        " (more than three times delivery_timeout)",
    )
    poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="how often workers look for due work when not woken, seconds",
    )
    shutdown_timeout: float = Field(
        default=10.0,
        ge=0,
        description="how long a stop waits for in-flight work, seconds",
    )
    retention: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="how long delivered and cancelled deliveries are kept, seconds",
    )
    subscribe_rate: float = Field(
        default=5.0,
        ge=0,
        description="subscription requests per second per client address (0: off)",
    )
    subscribe_rate_per_callback_host: float = Field(
        default=2.0, ge=0, description="subscription requests per second per callback host (0: off)"
    )
    publish_rate: float = Field(
        default=1000.0, ge=0, description="publish requests per second per token (0: off)"
    )
    rate_burst: int = Field(default=20, gt=0, description="requests allowed at once above a rate")
    max_subscriptions_per_topic: int = Field(
        default=200_000, gt=0, description="active subscriptions one topic may have"
    )
    max_subscriptions_per_callback_host: int = Field(
        default=10_000, gt=0, description="active subscriptions one callback host may have"
    )
    max_form_parameters: int = Field(
        default=32, gt=0, description="form parameters accepted in one hub request"
    )
    disable_failing_after: float = Field(
        default=5 * 24 * 3600.0,
        gt=0,
        description="disable a subscription failing continuously this long, seconds",
    )
    sweep_interval: float = Field(
        default=30.0, gt=0, description="how often expired and failing subscriptions are swept"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 random bytes: stored hub.secrets are encrypted with it (AES-GCM)",
    )
    issuer: str | None = Field(
        default=None, description="the SETs' iss claim (default: the public URL)"
    )
    keys_dir: Path = Field(
        default=Path("sethub-keys"),
        description="signing keys of the SETs (a key is generated here on first start)",
    )
    signing_algorithm: Literal["RS256", "ES256", "PS256", "EdDSA"] = Field(
        default="RS256", description="algorithm of a key generated on first start"
    )
    signing_workers: int = Field(
        default=0, ge=0, description="processes signing SETs off the event loop (0: one per CPU)"
    )
    event_namespace: str | None = Field(
        default=None,
        description="URI prefix of identity events that have no CAEP/RISC URI (default: built in)",
    )
    agreed_credential_type: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "CAEP credential_type agreed with the receivers beyond CAEP's own (repeatable), "
            "e.g. email-otp"
        ),
    )
    max_batch_events: int = Field(
        default=100, gt=0, description="most identity events in one POST /events"
    )
    idempotency_window: float = Field(
        default=24 * 3600.0, gt=0, description="how long a publish id is remembered, seconds"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error"
    )

    @field_validator(
        "allow_topic", "allow_network", "retry_schedule", "agreed_credential_type", mode="before"
    )
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

    @field_validator("allow_network")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return value

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.allow_network)

    @field_validator("retry_schedule")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must not be negative")
        return value

    @field_validator("secret_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_key(value.get_secret_value())
        return value

    @property
    def secret_key_bytes(self) -> bytes | None:
        return None if self.secret_key is None else parse_key(self.secret_key.get_secret_value())

    @model_validator(mode="after")
    def _lease_bounds(self) -> Settings:
        if not self.lease_min <= self.lease_default <= self.lease_max:
            raise ValueError("lease bounds must satisfy lease_min <= lease_default <= lease_max")
        return self

    @model_validator(mode="after")
    def _claims_outlive_attempts(self) -> Settings:
        # A delivery may wait for one attempt of its subscription before its own (the
        # dispatcher claims ahead): its lease must outlast both, or it would be claimed twice.
        if self.claim_ttl <= 3 * self.delivery_timeout:
            raise ValueError("claim_ttl must be more than three times delivery_timeout")
        return self

    @property
    def base_url(self) -> str:
        """The URL the hub is reached at, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def set_issuer(self) -> str:
        return self.issuer or self.base_url

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
