"""Compact, fixed-width formatting of sizes, ages and ids for table cells."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

import humanize

_CLASS_ABBREV = {
    "STANDARD": "STD",
    "STANDARD_IA": "S-IA",
    "ONEZONE_IA": "Z-IA",
    "INTELLIGENT_TIERING": "INT",
    "GLACIER": "GLAC",
    "GLACIER_IR": "G-IR",
    "DEEP_ARCHIVE": "DEEP",
    "REDUCED_REDUNDANCY": "RRS",
    "EXPRESS_ONEZONE": "EXP",
    "OUTPOSTS": "OUTP",
    "SNOW": "SNOW",
}

ACTIVE_WINDOW = timedelta(hours=1)
"""An upload whose newest part is younger than this is still receiving data: not stale."""


@lru_cache(maxsize=8192)
def size_text(n: int | None) -> str:
    """``1.2 GiB``, ``512 B``; ``?`` when unknown (memoized: humanize costs ~20 µs a call)."""
    if n is None:
        return "?"
    text = humanize.naturalsize(n, binary=True, format="%.1f")
    return text.replace(" Bytes", " B").replace(" Byte", " B")


def compact_age(seconds: float) -> str:
    """``45s``, ``12m``, ``5h``, ``3d``, ``4mo``, ``2y``: at most four characters for any age."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    days = s // 86400
    if days < 60:
        return f"{days}d"
    months = days * 12 // 365
    if months < 24:
        return f"{months}mo"
    return f"{days // 365}y"


def age_text(when: datetime | None, now: datetime) -> str:
    """The compact age of ``when`` as seen at ``now``; ``-`` when unknown."""
    if when is None:
        return "-"
    return compact_age((now - when).total_seconds())


def short_id(upload_id: str, width: int = 8) -> str:
    """The first characters of an upload id: enough to tell uploads of one key apart."""
    return upload_id if len(upload_id) <= width else upload_id[: width - 1] + "…"


def class_text(storage_class: str | None) -> str:
    """A short storage-class label (``STD``, ``S-IA``...)."""
    if not storage_class:
        return "-"
    return _CLASS_ABBREV.get(storage_class, storage_class[:4])


def count_text(n: int) -> str:
    """``1,234``."""
    return f"{n:,}"
