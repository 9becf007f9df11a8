"""The documentation stays true to the code: the configuration page is the settings model."""

from __future__ import annotations

from pathlib import Path

from hub.config import Settings, flag
from hub.config.reference import render

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"


def test_the_configuration_page_is_generated_from_the_settings_model() -> None:
    for name in Settings.model_fields:
        assert f"| `{flag(name)}` | `SETHUB_{name.upper()}` |" in CONFIGURATION.read_text(), name
    assert CONFIGURATION.read_text() == render(), (
        "docs/configuration.md differs from the settings model: run"
        " `python -m hub.config.reference > docs/configuration.md`"
    )
