"""Key bindings (with ids, so users can remap them), the help rows and the command palette entries."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

BINDINGS: list[BindingType] = [
    Binding("space", "toggle_mark", "Mark", id="mark"),
    Binding("a", "mark_all", "Mark all", id="mark_all"),
    Binding("i", "invert_marks", "Invert", id="invert_marks"),
    Binding("escape", "clear", "Clear", id="clear"),
    Binding("slash", "filter('key')", "Filter", id="filter_key"),
    Binding("o", "filter('age')", "Min age", id="filter_age"),
    Binding("z", "filter('size')", "Min size", id="filter_size"),
    Binding("K", "sort('key')", "Sort by key", show=False, id="sort_key"),
    Binding("A", "sort('age')", "Sort by age", show=False, id="sort_age"),
    Binding("N", "sort('activity')", "Sort by newest part", show=False, id="sort_activity"),
    Binding("S", "sort('size')", "Sort by size", show=False, id="sort_size"),
    Binding("P", "sort('parts')", "Sort by parts", show=False, id="sort_parts"),
    Binding("B", "sort('bucket')", "Sort by bucket", show=False, id="sort_bucket"),
    Binding("r", "rescan", "Rescan", id="rescan"),
    Binding("d,delete", "abort", "Abort", id="abort"),
    Binding("c", "commit", "Commit", id="commit"),
    Binding("C", "copy", "Copy", show=False, id="copy"),
    Binding("R", "resume_job", "Resume job", show=False, id="resume_job"),
    Binding("F", "resume_file", "Resume from file", show=False, id="resume_file"),
    Binding("J", "jobs", "Jobs", id="jobs"),
    Binding("left", "focus_pane(-1)", "Pane left", show=False, id="pane_left"),
    Binding("right", "focus_pane(1)", "Pane right", show=False, id="pane_right"),
    Binding("question_mark", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
]

DESTRUCTIVE_ACTIONS = frozenset({"abort", "commit", "copy", "resume_job", "resume_file"})
"""Actions that change the account: hidden and disabled under ``--read-only``."""

_HIDDEN_FROM_HELP = frozenset({"focus_pane"})


def key_label(keys: str) -> str:
    names = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc", "delete": "del"}
    return " ".join(names.get(k, k) for k in keys.split(","))


def _bindings(read_only: bool) -> Iterable[Binding]:
    for binding in BINDINGS:
        assert isinstance(binding, Binding)
        name = binding.action.split("(")[0]
        if name in _HIDDEN_FROM_HELP or (read_only and name in DESTRUCTIVE_ACTIONS):
            continue
        yield binding


def help_rows(read_only: bool) -> list[tuple[str, str]]:
    rows = [
        ("↑ ↓ pgup pgdn", "move in the focused pane (also j/k, home/end); mouse works too"),
        ("tab ← →", "next pane / pane left / pane right"),
        ("enter", "(in a filter) apply and go back to the uploads"),
    ]
    rows += [(key_label(b.key), b.description) for b in _bindings(read_only)]
    rows.append(("ctrl+p", "command palette: every action by name"))
    return rows


def system_commands(read_only: bool, run_action: Callable[[str], object]) -> Iterable[SystemCommand]:
    for binding in _bindings(read_only):
        action = binding.action
        yield SystemCommand(
            binding.description, f"key: {key_label(binding.key)}", lambda action=action: run_action(action)
        )
