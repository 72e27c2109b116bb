"""Modal screens of the mputui TUI."""
