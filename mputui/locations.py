"""Where mputui keeps its files (platformdirs), overridable with ``MPUTUI_HOME`` (tests, portable installs).

State files hold no credentials and are created user-only (0600) in user-only directories (0700). A directory
that already exists is tightened to 0700 if group or others may use it, and refused if another user owns it: a
world-writable job directory would let another local user plant job records that mputui then acts on.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from mputui.s3.errors import MputuiError

APP = "mputui"


def _home() -> Path | None:
    value = os.environ.get("MPUTUI_HOME")
    return Path(value) if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return user_only_dir(path)


def user_only_dir(path: Path) -> Path:
    """``path`` (an existing directory) made 0700; MputuiError (exit 2) if it is another user's or not a
    directory, or cannot be tightened."""
    try:
        st = path.stat()
    except OSError as exc:
        raise MputuiError(f"cannot use {path}: {exc.strerror or exc}", exit_code=2) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise MputuiError(f"cannot use {path}: not a directory", exit_code=2)
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise MputuiError(
            f"refusing to use {path}: it belongs to uid {st.st_uid}, not to you (uid {os.getuid()})",
            exit_code=2,
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise MputuiError(
                f"refusing to use {path}: other users may write to it and it cannot be made 0700 "
                f"({exc.strerror or exc})",
                exit_code=2,
            ) from exc
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
