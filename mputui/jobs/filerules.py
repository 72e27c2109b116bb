"""``--include`` / ``--exclude``: which files of a tree ``put`` takes, decided as rsync decides.

The rules are tried in the order given; the first whose pattern matches a file decides (include or leave out).
A file no rule matches is taken, unless at least one ``--include`` was given: then it is left out.

A pattern matches a file when it matches the file or one of the directories the file is in, so a rule about a
directory covers everything under it:

- without ``/`` it is matched against names: the file's name, or the name of any directory on its path
  (``*.html``, ``page1*``, ``.git``);
- with ``/`` it is matched against paths relative to LOCAL_PATH (``/``-separated): the file's, or any of its
  directories' (``docs/*.md``, ``build/out``); so a leading ``/`` anchors a name at the top (``/TODO``);
- a trailing ``/`` matches directories only (``tmp/``: everything under any directory named ``tmp``).

``*`` matches any run of characters but ``/``, ``?`` one character but ``/``, ``[a-z]`` / ``[!a-z]`` one
character in / not in the set (``[^a-z]`` too), and ``**`` anything, ``/`` included (``**/`` also matches no directory at all).
Matching is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``--include``/``--exclude`` pattern, compiled."""

    include: bool
    pattern: str
    dir_only: bool = field(init=False)
    by_path: bool = field(init=False)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        body = self.pattern
        if not body.strip("/"):
            raise ValueError(f"empty pattern: {self.pattern!r}")
        dir_only = body.endswith("/")
        body = body.rstrip("/")
        by_path = "/" in body
        object.__setattr__(self, "dir_only", dir_only)
        object.__setattr__(self, "by_path", by_path)
        try:
            regex = re.compile(_translate(body.lstrip("/")))
        except re.error as exc:
            raise ValueError(f"bad pattern {self.pattern!r}: {exc.msg}") from None
        object.__setattr__(self, "regex", regex)

    def matches(self, rel: str) -> bool:
        """Whether the pattern matches the file at ``rel`` or a directory it is in."""
        parts = rel.split("/")
        last = len(parts) - 1
        for n, name in enumerate(parts):
            if self.dir_only and n == last:
                break
            subject = "/".join(parts[: n + 1]) if self.by_path else name
            if self.regex.fullmatch(subject):
                return True
        return False


def include(pattern: str) -> Rule:
    return Rule(True, pattern)


def exclude(pattern: str) -> Rule:
    return Rule(False, pattern)


def selected(rel: str, rules: Sequence[Rule]) -> bool:
    """Whether the file at ``rel`` (relative, ``/``-separated) is taken: the first matching rule decides."""
    for rule in rules:
        if rule.matches(rel):
            return rule.include
    return not any(rule.include for rule in rules)


def _translate(glob: str) -> str:
    """A regular expression for a glob: ``*``, ``?`` and classes stay within a component, ``**`` does not."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = _class_end(glob, i)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            inner = glob[i + 1 : end]
            negate = inner.startswith(("!", "^"))
            if negate:
                inner = inner[1:]
            escaped = "".join("\\" + ch if ch in "\\^[]" else ch for ch in inner)
            out.append(f"(?!/)[{'^' if negate else ''}{escaped}]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``start`` (a ``]`` first in it is literal), or -1."""
    j = start + 1
    if j < len(glob) and glob[j] in "!^":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    return glob.find("]", j)
