"""Settings precedence (flags > env > file > defaults) and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings


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
        ({"port": "x"}, "port"),
        ({"port": 70000}, "port"),
        ({"lease_min": 10, "lease_default": 5}, "lease"),
        ({"claim_ttl": 30, "delivery_timeout": 10}, "claim_ttl"),
        ({"allow_topic": ["ftp://x/"]}, "allow_topic"),
        ({"retry_schedule": "1,-2"}, "retry_schedule"),
        ({"signature_algorithm": "md5"}, "signature_algorithm"),
        ({"no_such": 1}, "no_such"),
    ],
)
def test_bad_values_name_the_setting(flags: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(flags, environ={})


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=bad, environ={})
