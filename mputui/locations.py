"""Where mputui keeps its files (platformdirs), overridable with ``MPUTUI_HOME`` (tests, portable installs).

State files hold no credentials and are created user-only (0600) in user-only directories (0700).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "mputui"


def _home() -> Path | None:
    value = os.environ.get("MPUTUI_HOME")
    return Path(value) if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_dir() -> Path:
    """User configuration (named endpoints, key bindings)."""
    home = _home()
    return _ensure(home / "config" if home else platformdirs.user_config_path(APP))


def state_dir() -> Path:
    """Job journal and other state that must survive a crash."""
    home = _home()
    return _ensure(home / "state" if home else platformdirs.user_state_path(APP))


def log_dir() -> Path:
    """Log files."""
    home = _home()
    return _ensure(home / "log" if home else platformdirs.user_log_path(APP))
