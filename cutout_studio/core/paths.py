"""Where Cutout Studio keeps its files: one place, so GUI, CLI and tests agree.

``CUTOUT_STUDIO_HOME`` puts everything (models, config, data, logs) under one folder; tests and
portable installs use it. Otherwise the platform's conventional folders (platformdirs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "cutout-studio"


def _home_override() -> Path | None:
    value = os.environ.get("CUTOUT_STUDIO_HOME")
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    home = _home_override()
    return _ensure(home / "models" if home else Path(platformdirs.user_cache_dir(APP_NAME)) / "models")


def config_dir() -> Path:
    home = _home_override()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME)))


def data_dir() -> Path:
    """The user's own data that is not a setting (the editor's saved edits)."""
    home = _home_override()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME)))


def log_dir() -> Path:
    home = _home_override()
    return _ensure(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME)))


def resources_dir() -> Path:
    """The project's ``resources/`` folder, in a source checkout or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
