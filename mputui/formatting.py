"""What the CLI and the TUI show, as plain strings: sizes, ages, untrusted text made safe, and the lines that
describe a commit plan, its problems, flagged parts, a file verification and a copy plan.

Pure functions (no Textual, no boto3): the CLI prints them; the TUI (``mputui.tui.text``) only adds styling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import humanize

from mputui.s3.models import PartFlags, Problem, ProblemCode

if TYPE_CHECKING:
    from mputui.jobs.copy import CopyPlan
    from mputui.s3.checksums import FileVerification
    from mputui.s3.commit import CommitPlan
    from mputui.s3.objects import ObjectInfo

# Untrusted text (object keys, bucket names, upload ids, anything a server sent) is shown through
# ``safe_text``, by the CLI and by the TUI: one definition of what a terminal may be given raw.
#
# Shown as a stand-in: every character that is not printable — Unicode general categories Cc, Cf, Cs, Co, Cn,
# Zl, Zp and Zs other than U+0020 (``str.isprintable`` is exactly this test) — and the printable characters in
# ``_INVISIBLE_PRINTABLE``; plus spaces at either end of the text. Tested over every code point
# (tests/test_stand_ins.py).

_NAMED = {
    "\x1b": "␛",
    "\n": "␤",
    "\r": "␍",
    "\t": "␉",
    "\x7f": "␡",
}

# Printable by Python's rules, yet blank, invisible or width-changing in a terminal: shown like format
# characters. Variation selectors are invisible and switch a character between text and emoji presentation,
# whose width terminals disagree about (``❤️`` is one cell in some, two in others): shown, the character before
# it is measured the same everywhere.
_INVISIBLE_PRINTABLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)

EDGE_SPACE = "␠"
"""Stands for a space at the start or end of a key, which a table or a line end would hide."""


def needs_stand_in(ch: str) -> bool:
    """True for a character ``safe_text`` replaces wherever it is (see the definition above)."""
    return not ch.isprintable() or ch in _INVISIBLE_PRINTABLE


@lru_cache(maxsize=4096)
def _visible_char(ch: str) -> str:
    """The visible stand-in for one character that must not be shown raw."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␁ ... (Control Pictures block)
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"⟨U+{code:04X}⟩"


def is_plain(text: str) -> bool:
    """True when ``safe_text(text) == text`` (the common, fast case)."""
    if text[:1] == " " or text[-1:] == " ":
        return False
    if text.isascii():
        return text.isprintable()
    return text.isprintable() and _INVISIBLE_PRINTABLE.isdisjoint(text)


def safe_pieces(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` as runs of characters shown as they are (``False``) and stand-ins (``True``, one per
    character): control, format, bidi, zero-width and separator characters, variation selectors, and the
    spaces at either end (``␠``). Joined, the pieces are ``safe_text(text)``."""
    start = len(text) - len(text.lstrip(" "))
    if start == len(text):
        yield from ((EDGE_SPACE, True) for _ in text)
        return
    end = len(text.rstrip(" "))
    yield from ((EDGE_SPACE, True) for _ in range(start))
    run: list[str] = []
    for ch in text[start:end]:
        if needs_stand_in(ch):
            if run:
                yield "".join(run), False
                run.clear()
            yield _visible_char(ch), True
        else:
            run.append(ch)
    if run:
        yield "".join(run), False
    yield from ((EDGE_SPACE, True) for _ in range(len(text) - end))


def safe_text(text: str) -> str:
    """``text`` with every character a terminal would obey or hide replaced by a visible stand-in.

    ``"a\\x1b[2Jb"`` → ``"a␛[2Jb"``; ``"\\u202e"`` → ``"⟨U+202E⟩"``; ``"\\x9b"`` → ``"\\x9b"`` (four
    characters); ``" x "`` → ``"␠x␠"``; ``"❤\\ufe0f"`` → ``"❤⟨U+FE0F⟩"``. The result is plain text: it cannot move
    the cursor, clear the screen, reorder what follows it or hide where it ends. It is still untrusted as
    markup: the TUI renders it through ``Text``/``Content``, never as a markup string.
    """
    if is_plain(text):
        return text
    return "".join(piece for piece, _ in safe_pieces(text))


def one_line(text: str, limit: int = 300) -> str:
    """An untrusted message (a server's error text) as one visible line, cut to ``limit`` characters."""
    flat = safe_text(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ``scheme://userinfo@``: RFC 3986 userinfo holds no "/", "?", "#"; the last "@" before the host ends it.
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s'\"<>]*@")


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``. In a URL that does not parse, everything between
    ``://`` and its last ``@`` is hidden (a password with a raw "/" or ":" breaks the URL's syntax)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed authority
    except ValueError:
        scheme, sep, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep else "***"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def redact_urls(text: str) -> str:
    """``text`` with the userinfo (``user:password@``) of every URL in it shown as ``***@``."""
    if "@" not in text:
        return text
    return _URL_USERINFO.sub(r"\1***@", text)


@lru_cache(maxsize=8192)
def format_size(size: int | None) -> str:
    """``1.5 MiB``, ``512 B``; ``?`` when unknown (memoized: humanize costs ~20 µs a call)."""
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    return str(humanize.naturalsize(size, binary=True, format="%.1f"))


def format_size_exact(size: int) -> str:
    """``157.7 KiB (161,456 bytes)``: the exact count too when the short form is rounded; ``11 B``."""
    short = format_size(size)
    return short if size < 1024 else f"{short} ({size:,} bytes)"


def format_count(n: int) -> str:
    """``1,234``."""
    return f"{n:,}"


def format_ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` → ``1-3, 7, 9-10`` (at most 8 ranges shown)."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out[:8]) + (f" and {len(out) - 8} more ranges" if len(out) > 8 else "")


def some_of(texts: list[str], limit: int = 10) -> list[str]:
    """The first ``limit`` untrusted strings made safe, then ``… and N more``: which ones, never a flood."""
    shown = [safe_text(t) for t in texts[:limit]]
    return shown + ([f"… and {format_count(len(texts) - limit)} more"] if len(texts) > limit else [])


def compact_age(seconds: float) -> str:
    """``45s``, ``12m``, ``5h``, ``3d``, ``4mo``, ``2y``: at most four characters for any age.

    Months are 30 days, so the count never drops where days turn into months (``59d``, then ``2mo``).
    """
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
    if days < 730:
        return f"{days // 30}mo"
    return f"{days // 365}y"


def format_age(delta: timedelta | None) -> str:
    """``compact_age`` of a duration; ``-`` when unknown."""
    return "-" if delta is None else compact_age(delta.total_seconds())


def age_text(moment: datetime | None, now: datetime) -> str:
    """The compact age of ``moment`` as seen at ``now``; ``-`` when unknown."""
    return "-" if moment is None else compact_age((now - moment).total_seconds())


def age_of(moment: datetime | None, now: datetime) -> timedelta | None:
    """``now - moment``, or ``None`` when ``moment`` is unknown."""
    return None if moment is None else now - moment


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``2026-11-22T02:35:40.335000Z``), or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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


def short_id(upload_id: str, width: int = 8) -> str:
    """The first characters of an upload id: enough to tell uploads of one key apart."""
    return upload_id if len(upload_id) <= width else upload_id[: width - 1] + "…"


def checksum_label(algorithm: str | None, kind: str | None) -> str:
    """``CRC32 composite``, ``CRC64NVME full-object``: an upload's checksum algorithm and type; ``-`` if none."""
    return safe_text(_checksum_words(algorithm, kind)) if algorithm else "-"


def _checksum_words(algorithm: str | None, kind: str | None) -> str:
    words = {"COMPOSITE": "composite", "FULL_OBJECT": "full-object"}
    return f"{algorithm or ''} {words.get(kind or '', kind or '')}".strip()


def storage_class_label(storage_class: str | None) -> str:
    """A short storage-class label (``STD``, ``S-IA``...); ``-`` when unknown."""
    if not storage_class:
        return "-"
    return _CLASS_ABBREV.get(storage_class, storage_class[:4])


# --- lines: plans, problems, verdicts ----------------------------------------------------------------------


class Untrusted(str):
    """A piece of a ``Line`` that came from outside (a key, a URL, a path): shown through ``safe_text``."""

    __slots__ = ()


Tone = Literal["", "warning", "alarm"]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of fixed wording and ``Untrusted`` pieces, and how much it should stand out."""

    pieces: tuple[str, ...]
    tone: Tone = ""

    @property
    def text(self) -> str:
        """The line as plain, safe text."""
        return "".join(safe_text(p) if isinstance(p, Untrusted) else p for p in self.pieces)


def problem_text(problem: Problem, *, flag_hints: bool = False) -> str:
    """Why a commit is refused, in words; ``flag_hints`` names the CLI option that works around it."""
    numbers = list(problem.parts)
    match problem.code:
        case ProblemCode.NO_PARTS:
            return "the upload has no parts"
        case ProblemCode.NO_PREFIX:
            return "part 1 is missing: there is no contiguous prefix to commit"
        case ProblemCode.GAP if numbers[0] == 1:
            return f"gap in part numbers: missing {format_ranges(numbers)}, including part 1"
        case ProblemCode.GAP:
            hint = f"; use --contiguous-prefix to commit parts 1..{numbers[0] - 1} only" if flag_hints else ""
            return (
                f"gap in part numbers: missing {format_ranges(numbers)} "
                f"(the object would silently lack those bytes{hint})"
            )
        case ProblemCode.SMALL_PART:
            return (
                f"non-last part(s) under 5 MiB: {format_ranges(numbers)} "
                "(S3 refuses to complete with them: EntityTooSmall)"
            )
        case ProblemCode.TOO_MANY_PARTS:
            return f"more than 10,000 parts (S3's limit): part number(s) {format_ranges(numbers)}"


def problems_text(problems: tuple[Problem, ...], *, flag_hints: bool = False) -> str:
    """Every problem, ``; ``-separated, for one error line."""
    return "; ".join(problem_text(p, flag_hints=flag_hints) for p in problems)


def commit_plan_lines(plan: CommitPlan) -> list[Line]:
    """The parts, size and ETag of a commit, and the parts it discards."""
    lines: list[Line] = []
    if plan.parts:
        first, last = plan.parts[0].part_number, plan.parts[-1].part_number
        lines.append(
            Line(
                (
                    f"parts:     {format_count(len(plan.parts))} of {format_count(plan.listed)} listed "
                    f"(numbers {first}..{last})",
                )
            )
        )
    lines.append(Line((f"size:      {format_size(plan.size)} ({plan.size:,} bytes)",)))
    lines.append(Line((f"ETag:      {plan.etag or 'unknown (part ETags are not MD5s)'}",)))
    if plan.checksum_algorithm:
        lines.append(checksum_plan_line(plan))
    if plan.dropped:
        lines.append(
            Line((f"discarded: {format_count(len(plan.dropped))} part(s) after the first gap",), "warning")
        )
    return lines


def checksum_plan_line(plan: CommitPlan) -> Line:
    """Which checksums a commit sends for an upload created with a checksum algorithm."""
    label = Untrusted(_checksum_words(plan.checksum_algorithm, plan.checksum_type))
    listed = sum(1 for p in plan.parts if p.checksum)
    if listed and listed == len(plan.parts):
        whole = ("; object ", Untrusted(plan.checksum)) if plan.checksum else ()
        return Line(("checksum:  ", label, ", each part's listed checksum is sent", *whole))
    if not listed:
        return Line(("checksum:  ", label, "; the server lists no part checksums: none are sent"))
    return Line(
        ("checksum:  ", label, f"; only {listed} of {len(plan.parts)} parts list a checksum: those are sent"),
        "warning",
    )


def existing_object_text(existing: ObjectInfo | None) -> str:
    """The object a commit would replace: ``an object exists at this key (size, date)``."""
    if existing is None:  # it appeared, then went again before it could be looked at
        return "an object exists at this key"
    when = existing.last_modified
    date = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when is not None else "date unknown"
    return f"an object exists at this key ({format_size(existing.size)}, {date})"


def replace_warning(existing: ObjectInfo) -> str:
    """What a commit with overwrite does to the object already at its key."""
    return f"{existing_object_text(existing)} and will be replaced"


def verification_summary(v: FileVerification) -> str:
    """How a local file compares with the parts."""
    text = (
        f"{v.matching} matching, {len(v.mismatching)} mismatching, {len(v.missing)} missing; "
        f"local multipart ETag {v.local_etag or '-'}"
    )
    if v.checksum_note:
        text += f"; {safe_text(v.checksum_note)}"
    elif v.checksums_compared:
        text += (
            f"; {safe_text(v.checksum_algorithm or '')} checksums compared for {v.checksums_compared} part(s)"
        )
    return text


def verification_problem(v: FileVerification) -> str | None:
    """Why a verification refuses the commit, or None when it passed."""
    if v.ok:
        return None
    path = safe_text(v.path)
    if v.mismatching:
        return f"parts {', '.join(map(str, v.mismatching[:10]))} differ from {path}"
    if v.missing:
        return f"{path} is shorter than the parts ({v.file_size} < {v.parts_size} bytes)"
    if v.unknown:
        return "some part ETags are not MD5s (encrypted upload?): the file cannot be verified"
    if v.file_size != v.parts_size:
        return f"{path} has {v.file_size - v.parts_size} bytes more than the parts"
    return "verification failed"


def part_flag_text(flags: PartFlags) -> str:
    """``gap 3-5``, ``<5MiB``, ``>10,000``: what in one part blocks a commit; empty when nothing."""
    words: list[str] = []
    for code in flags.codes:
        if code is ProblemCode.GAP and flags.missing_before is not None:
            first, last = flags.missing_before
            words.append(f"gap {first}" if first == last else f"gap {first}-{last}")
        elif code is ProblemCode.SMALL_PART:
            words.append("<5MiB")
        elif code is ProblemCode.TOO_MANY_PARTS:
            words.append(">10,000")
    return " ".join(words)


def _plural(n: int, word: str) -> str:
    return f"{format_count(n)} {word}{'s' if n != 1 else ''}"


def parts_verdict(plan: CommitPlan) -> tuple[str, bool]:
    """What the flagged parts mean for a commit of all of them, and whether that is refused."""
    if not plan.flags:
        return "no parts uploaded", False
    counts = {
        code: sum(1 for f in plan.flags if code in f.codes)
        for code in (ProblemCode.GAP, ProblemCode.SMALL_PART, ProblemCode.TOO_MANY_PARTS)
    }
    found = [
        _plural(n, word)
        for n, word in (
            (counts[ProblemCode.GAP], "gap"),
            (counts[ProblemCode.SMALL_PART], "small part"),
            (counts[ProblemCode.TOO_MANY_PARTS], "part"),
        )
        if n
    ]
    if counts[ProblemCode.TOO_MANY_PARTS]:
        found[-1] += " over 10,000"
    if found:
        return f"⚠ {', '.join(found)}: blocks a commit", True
    return "parts look committable", False


def parts_summary(plan: CommitPlan) -> tuple[str, bool]:
    """``3 parts · 15.0 MiB · parts look committable`` (``· CRC32 composite`` after the size for an upload
    created with a checksum algorithm), and whether the parts are refused a commit."""
    if not plan.flags:
        return "no parts uploaded", False
    verdict, blocked = parts_verdict(plan)
    total = sum(f.part.size for f in plan.flags)
    sums = (
        f" · {checksum_label(plan.checksum_algorithm, plan.checksum_type)}" if plan.checksum_algorithm else ""
    )
    return f"{_plural(len(plan.flags), 'part')} · {format_size(total)}{sums} · {verdict}", blocked


def copy_plan_lines(plan: CopyPlan, dst: str) -> list[Line]:
    """What a copy will do: objects and bytes, what it replaces, resumes, skips and aborts."""
    todo = plan.count("copy", "replace", "resume")
    if not todo and not plan.stale:
        return [
            Line((f"nothing to copy: {format_count(plan.count('skip'))} identical object(s) already there",))
        ]
    size = plan.size("copy", "replace", "resume")
    lines = [Line((f"copy {format_count(todo)} object(s), {format_size_exact(size)}, to ", Untrusted(dst)))]
    if plan.count("replace"):
        lines.append(
            Line((f"{format_count(plan.count('replace'))} existing object(s) will be REPLACED",), "alarm")
        )
    if plan.count("resume"):
        lines.append(Line((f"{format_count(plan.count('resume'))} interrupted job(s) resumed",)))
    if plan.count("skip"):
        lines.append(Line((f"{format_count(plan.count('skip'))} identical object(s) skipped",)))
    if plan.stale:
        lines.append(
            Line(
                (f"{format_count(len(plan.stale))} outdated job(s) aborted (their source changed)",),
                "warning",
            )
        )
    targets = [i for i in plan.items if i.action != "skip"]
    if len(targets) == 1 and targets[0].dst != dst:
        lines.append(Line(("target: ", Untrusted(targets[0].dst))))
    return lines
