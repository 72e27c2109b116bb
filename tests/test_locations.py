"""State locations honour MPUTUI_HOME and are user-only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mputui import locations


def test_mputui_home_overrides_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPUTUI_HOME", str(tmp_path / "h"))
    assert locations.state_dir() == tmp_path / "h" / "state"
    assert locations.config_dir() == tmp_path / "h" / "config"
    assert locations.log_dir() == tmp_path / "h" / "log"
    mode = stat.S_IMODE(locations.state_dir().stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_default_is_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MPUTUI_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert locations.state_dir() == tmp_path / "xdg" / "mputui"
