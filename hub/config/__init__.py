"""Settings: one pydantic model (`settings`) and the one way every command loads it (`loading`)."""

from .loading import ConfigError, load_settings
from .settings import Settings, flag

__all__ = ["ConfigError", "Settings", "flag", "load_settings"]
