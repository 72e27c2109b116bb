"""Safe display of untrusted text (object keys, bucket names, server messages) in the TUI.

What is shown as a stand-in, and how, is defined once in ``mputui.formatting`` for the CLI and the TUI; this
module only adds styling. Nothing here ever parses markup: callers get plain ``str`` or ``rich.text.Text``.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from mputui.formatting import is_plain, one_line, safe_pieces
from mputui.formatting import safe_text as visible

__all__ = ["is_plain", "one_line", "safe_text", "visible"]


def safe_text(text: str, style: Style | str = "", escape_style: Style | str = "reverse") -> Text:
    """A ``Text`` of ``visible(text)``; the stand-ins carry ``escape_style`` so they stand out."""
    if is_plain(text):
        return Text(text, style=style, end="", no_wrap=True)
    out = Text(style=style, end="", no_wrap=True)
    for piece, escaped in safe_pieces(text):
        if escaped:
            out.append(piece, style=escape_style)
        else:
            out.append(piece)
    return out
