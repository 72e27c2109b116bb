"""Widgets of the mputui TUI."""
