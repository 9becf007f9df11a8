"""Settings precedence (flags > env > file > defaults) and validation."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from hub.cli import build_parser
from hub.cli.serve import settings_from_args
from hub.config import ConfigError, Settings, load_settings


def test_defaults_are_safe() -> None:
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1"
    assert settings.allow_private_callbacks is False
    assert settings.allow_topic == []
    assert settings.open_publish is False
    assert settings.lease_default == 10 * 24 * 3600
    assert settings.hub_url == "http://127.0.0.1:8080/hub"
    assert settings.max_attempts == len(settings.retry_schedule) + 1


def test_flags_beat_env_beat_file(tmp_path: Path) -> None:
    config = tmp_path / "sethub.toml"
    config.write_text('port = 7000\nlease-min = 5\nlog_level = "debug"\nhost = "0.0.0.0"\n')
    env = {"SETHUB_PORT": "7100", "SETHUB_LEASE_MIN": "6", "SETHUB_CONFIG": str(config)}
    settings = load_settings({"port": 7200}, environ=env)
    assert settings.port == 7200  # flag
    assert settings.lease_min == 6  # env over file
    assert settings.log_level == "debug"  # file over default
    assert settings.host == "0.0.0.0"


def test_env_lists_are_comma_separated() -> None:
    env = {
        "SETHUB_ALLOW_TOPIC": "https://a.example/, https://b.example/x",
        "SETHUB_RETRY_SCHEDULE": "1,2.5",
    }
    settings = load_settings(environ=env)
    assert settings.allow_topic == ["https://a.example/", "https://b.example/x"]
    assert settings.retry_schedule == [1.0, 2.5]


def test_public_url_drives_hub_and_topic_urls() -> None:
    settings = load_settings({"public_url": "https://hub.example/"}, environ={})
    assert settings.hub_url == "https://hub.example/hub"
    assert settings.topic_url("login") == "https://hub.example/topics/login"


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ({"port": "x"}, "unable to parse string as an integer (got 'x')"),
        ({"port": 70000}, "invalid --port: "),
        ({"lease_min": 10, "lease_default": 5}, "--lease-min (10) <= --lease-default (5)"),
        ({"claim_ttl": 30, "delivery_timeout": 10}, "--claim-ttl (30) must be more than three"
         " times --delivery-timeout (10)"),
        ({"claim_ttl": 35, "delivery_timeout": 10, "verify_timeout": 12}, "--claim-ttl (35) must"
         " be at least three times --verify-timeout (12), so that a slow verification is never"
         " claimed a second time"),
        ({"allow_topic": ["ftp://x/"]}, "invalid --allow-topic: 'ftp://x/' is not"),
        ({"retry_schedule": "1,-2"}, "invalid --retry-schedule: "),
        ({"signature_algorithm": "md5"}, "invalid --signature-algorithm: "),
        ({"no_such": 1}, "unknown setting --no-such"),
    ],
)
def test_bad_values_name_the_flag(flags: dict[str, object], fragment: str) -> None:
    """Walkthrough 15: `--claim-ttl`, as the user typed it, not the field `claim_ttl`."""
    with pytest.raises(ConfigError) as raised:
        load_settings(flags, environ={})
    assert fragment in str(raised.value)
    assert "_" not in str(raised.value).split(":")[0]


def test_bad_values_name_the_env_var_or_the_file_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid SETHUB_CLAIM_TTL: .*got 'soon'"):
        load_settings(environ={"SETHUB_CLAIM_TTL": "soon"})
    config = tmp_path / "sethub.toml"
    config.write_text("lease-min = -1\n")
    with pytest.raises(ConfigError, match=f"invalid lease-min in {config}: "):
        load_settings(config_file=config, environ={})


@pytest.mark.parametrize("text", ["bogus_key = 1\n", "[serve]\nport = 8081\n"])
def test_unknown_file_keys_and_tables_are_named_with_a_hint(tmp_path: Path, text: str) -> None:
    config = tmp_path / "sethub.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=r"unknown setting .* top-level keys named like"):
        load_settings(config_file=config, environ={})


def test_a_secret_key_is_never_repeated_in_a_message() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"SETHUB_SECRET_KEY": "not-base64-but-secret!"})
    assert "SETHUB_SECRET_KEY" in str(raised.value)
    assert "not-base64-but-secret" not in str(raised.value)


def test_a_comma_separated_flag_value_is_split_like_the_env_var() -> None:
    """Walkthrough 16: `--allow-topic http://b.example/,http://c.example/` was one prefix."""
    settings = load_settings(
        {"allow_topic": ["http://b.example/,http://c.example/", "http://d.example/"]}, environ={}
    )
    assert settings.allow_topic == ["http://b.example/", "http://c.example/", "http://d.example/"]
    with pytest.raises(ConfigError, match=r"'c\.example/' is not an absolute http"):
        load_settings({"allow_topic": ["http://b.example/,c.example/"]}, environ={})


def test_secret_key_from_a_file(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    settings = load_settings(environ={"SETHUB_SECRET_KEY_FILE": str(key_file)})
    assert settings.secret_key_bytes == base64.b64decode(key)
    assert key not in repr(settings)
    with pytest.raises(ConfigError, match="give the secret key once"):
        load_settings({"secret_key_file": key_file}, environ={"SETHUB_SECRET_KEY": key})
    with pytest.raises(ConfigError, match=f"cannot read --secret-key-file {tmp_path / 'none'}"):
        load_settings({"secret_key_file": tmp_path / "none"}, environ={})
    key_file.write_text("c2hvcnQ=")
    with pytest.raises(ConfigError, match="must encode 32 bytes"):
        load_settings({"secret_key_file": key_file}, environ={})


def _serve_settings(*argv: str) -> Settings:
    return settings_from_args(build_parser().parse_args(["serve", *argv]))


def test_a_boolean_flag_turns_off_what_the_env_var_turned_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Walkthrough 15: flags win both ways (there was no --no-allow-private-callbacks)."""
    monkeypatch.setenv("SETHUB_ALLOW_PRIVATE_CALLBACKS", "true")
    assert _serve_settings().allow_private_callbacks is True
    assert _serve_settings("--no-allow-private-callbacks").allow_private_callbacks is False


def test_serve_flags_split_comma_separated_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SETHUB_ALLOW_TOPIC", raising=False)
    settings = _serve_settings("--allow-topic", "http://b.example/,http://c.example/")
    assert settings.allow_topic == ["http://b.example/", "http://c.example/"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", ""])
def test_a_wildcard_host_needs_a_public_url(host: str) -> None:
    """Walkthrough 5: http://0.0.0.0:PORT went into every SET's iss and every Link header."""
    with pytest.raises(ConfigError, match="give --public-url"):
        _serve_settings("--host", host)
    settings = _serve_settings("--host", host, "--public-url", "https://hub.example")
    assert settings.set_issuer == "https://hub.example"


def test_help_shows_defaults_as_a_user_types_them() -> None:
    from hub.cli.options import shown_default

    schedule = Settings.model_fields["retry_schedule"].get_default(call_default_factory=True)
    assert shown_default(schedule).startswith("10,30,120,600,")
    assert shown_default(Path("sethub.db")) == "sethub.db"
    assert shown_default(False) == "off"
    assert shown_default(None) is None
    assert shown_default(7 * 24 * 3600.0) == "604800"
    assert shown_default(0.2) == "0.2"


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=bad, environ={})
