"""[tool.lfguard] in pyproject.toml or .lfguard.toml, found upward from the working directory (to extend)."""

from lfguard.settings import Settings


def load_settings(start=None) -> Settings:
    return Settings()
