"""Entry point: ``mputui`` / ``python -m mputui``."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry: run the CLI (or the TUI when no command is given) and exit with its code."""
    from mputui.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
