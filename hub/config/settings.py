"""The one settings model of the hub: every knob, its default, and the rules between them.

The defaults are the safe choice: loopback listener, no private callback addresses, only the
hub's own topics, short leases, bounded timeouts everywhere. Each field is a `sethub serve` flag,
a `SETHUB_*` env var and a config-file key (see `loading`, which names a bad value the way the
user gave it).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..database_url import DatabaseLocation, parse_database
from ..sealing import parse_key
from ..topic_urls import parse_prefix
from .values import (
    DEFAULT_LEASE_DEFAULT,
    DEFAULT_LEASE_MAX,
    DEFAULT_LEASE_MIN,
    DEFAULT_RETRY_SCHEDULE,
    SignatureAlgorithm,
    flag,
    read_key_file,
    split_list,
)

__all__ = ["Settings", "flag"]

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
    db: Annotated[DatabaseLocation, PlainValidator(parse_database), PlainSerializer(str)] = Field(
        default=Path("sethub.db"),
        description="SQLite database file (serve creates it if missing; its directory must exist),"
        " or postgresql://USER@HOST:PORT/DB",
    )
    db_max_bytes: int = Field(
        default=0,
        ge=0,
        description="largest the database may grow; publishes then get 503 (0: off)",
    )
    db_busy_timeout: float = Field(
        default=5.0,
        ge=0,
        description="how long a write waits for another process's lock on the database, seconds",
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
        description="external topic URL prefix to accept: scheme, host, port (* for any) and path "
        "compared exactly (repeatable; default: own topics only)",
    )
    open_publish: bool = Field(
        default=False,
        description="let anyone ping allowed external topics without a publisher token",
    )
    subscribe_auth: Literal["identity", "required"] = Field(
        default="identity",
        description="which subscriptions need a subscriber token: identity (identity topics"
        " only) or required (every topic)",
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
    header_read_timeout: float = Field(
        default=10.0,
        gt=0,
        description="how long a new connection may take to send its first request's headers,"
        " seconds",
    )
    keepalive_timeout: float = Field(
        default=30.0,
        gt=0,
        description="how long a connection may wait for its next request (idle, or with half"
        " its headers sent), seconds",
    )
    body_read_timeout: float = Field(
        default=20.0,
        gt=0,
        description="how long a request may take to send its body once a handler reads it"
        " (408 and the connection closed after that), seconds",
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
        description="how long a claimed delivery is leased to a worker, and renewed for when"
        " its attempt starts, and a verification of intent, seconds (more than three times"
        " delivery_timeout, at least three times verify_timeout)",
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
        description="base64 of 32 random bytes: stored hub.secrets, and on PostgreSQL the signing"
        " keys, are encrypted with it (AES-GCM); give it by env var or --secret-key-file, as a"
        " flag every local user can read it",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="file holding the secret key (instead of --secret-key)",
    )
    issuer: str | None = Field(
        default=None, description="the SETs' iss claim (default: the public URL)"
    )
    keys_dir: Path = Field(
        default=Path("sethub-keys"),
        description="signing keys of the SETs (a key is generated here on first start); on"
        " PostgreSQL they are in the database, which imports these if it has none",
    )
    signing_algorithm: Literal["RS256", "ES256", "PS256", "EdDSA", "Ed25519"] = Field(
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

    _secret_key: bytes | None = PrivateAttr(default=None)

    @field_validator(
        "allow_topic", "allow_network", "retry_schedule", "agreed_credential_type", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("allow_topic")
    @classmethod
    def _topic_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            parse_prefix(prefix)  # a TopicURLError (ValueError) says what is wrong with it
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

    @model_validator(mode="after")
    def _read_secret_key(self) -> Settings:
        """The key, from --secret-key or read once from --secret-key-file; never both."""
        if self.secret_key is not None and self.secret_key_file is not None:
            raise ValueError(
                "give the secret key once: --secret-key-file or SETHUB_SECRET_KEY, not both"
            )
        if self.secret_key is not None:
            self._secret_key = parse_key(self.secret_key.get_secret_value())
        elif self.secret_key_file is not None:
            self._secret_key = read_key_file(self.secret_key_file)
        return self

    @property
    def secret_key_bytes(self) -> bytes | None:
        return self._secret_key

    @model_validator(mode="after")
    def _lease_bounds(self) -> Settings:
        if not self.lease_min <= self.lease_default <= self.lease_max:
            raise ValueError(
                f"--lease-min ({self.lease_min}) <= --lease-default ({self.lease_default})"
                f" <= --lease-max ({self.lease_max}) must hold"
            )
        return self

    @model_validator(mode="after")
    def _claims_outlive_attempts(self) -> Settings:
        # A delivery's lease is renewed when its attempt starts, and its holder never claims
        # it again while it holds it, however long it waits to be sent (the dispatcher claims
        # ahead). The lease must outlast one attempt and the write of its outcome, or another
        # node could claim and send it meanwhile: three times the attempt's timeout leaves the
        # write ample room.
        if self.claim_ttl <= 3 * self.delivery_timeout:
            raise ValueError(
                f"--claim-ttl ({self.claim_ttl:g}) must be more than three times"
                f" --delivery-timeout ({self.delivery_timeout:g})"
            )
        # A verification of intent is leased for claim_ttl too, and its lease is not renewed:
        # one still waiting for a slow callback when it expired would be claimed and verified
        # again by another node (or this one).
        if self.claim_ttl < 3 * self.verify_timeout:
            raise ValueError(
                f"--claim-ttl ({self.claim_ttl:g}) must be at least three times"
                f" --verify-timeout ({self.verify_timeout:g}), so that a slow verification"
                " is never claimed a second time"
            )
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
