"""Parsers for what users type: durations, sizes and ``s3://`` URLs. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Context, Decimal

_DURATION_UNITS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,  # as ages are printed: a month is 30 days, a year 365
    "y": 365 * 86400,
}
# ASCII digits only: ``\d`` would also accept other scripts' digits (Arabic-Indic "7d" read as 7 days).
# ``mo`` before ``m``: ``6mo`` is six months, ``6m`` six minutes.
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(mo|[smhdwy])")
DURATION_EXAMPLES = "90m, 12h, 7d, 2w, 6mo, 1y"
MAX_DURATION = timedelta(days=1000 * 365)
"""Longer ages are refused: no upload is older, and ``now - duration`` must stay a valid date."""

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)[ \t]*([a-z]*)")
MAX_SIZE = 10**30
"""Larger sizes are refused (S3 objects are at most 5 TiB; this bound only keeps arithmetic finite)."""
_EXACT = Context(prec=100)  # exact for every value up to MAX_SIZE bytes or MAX_DURATION seconds

# Bucket names on S3-compatible servers are looser than AWS's rules (RGW allows upper case, `_`), so we only
# refuse what can never be a bucket name.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


class ParseError(ValueError):
    """A value the user typed is not valid; the message is one line meant for them."""


def shown(text: str, limit: int = 40) -> str:
    """What the user typed, quoted for an error message (``repr`` escapes control characters), cut short."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


_WHOLE = re.compile(r"[0-9]+")


def parse_positive_int(text: str, limit: int = 10**9) -> int:
    """A whole number from 1 to ``limit`` in ASCII digits (``int()`` would also take Arabic-Indic digits, "1_000", " 7 ")."""
    if not _WHOLE.fullmatch(text) or len(text) > 30:
        raise ParseError(f"not a whole number: {shown(text)}")
    value = int(text)
    if value < 1:
        raise ParseError(f"must be at least 1, not {value}")
    if value > limit:
        raise ParseError(f"must be at most {limit:,}, not {shown(text)}")
    return value


def parse_duration(text: str) -> timedelta:
    """Parse ``45s``, ``90m``, ``12h``, ``7d``, ``2w``, ``6mo``, ``1y`` or combinations such as ``1d12h``.

    Every unit ages are printed in is accepted: ``m`` is minutes, ``mo`` months of 30 days, ``y`` 365 days.
    """
    s = text.strip().lower()
    if not s:
        raise ParseError(f"empty duration (use e.g. {DURATION_EXAMPLES})")
    pos = 0
    seconds = Decimal(0)
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        seconds = _EXACT.add(
            seconds, _EXACT.multiply(Decimal(match.group(1)), _DURATION_UNITS[match.group(2)])
        )
        pos = match.end()
    if pos != len(s):
        raise ParseError(f"bad duration {shown(text)} (use e.g. {DURATION_EXAMPLES})")
    if seconds > Decimal(MAX_DURATION.total_seconds()):
        raise ParseError(f"duration {shown(text)} too long (at most 1000 years)")
    return timedelta(seconds=float(seconds))


def parse_size(text: str) -> int:
    """Parse a byte size: ``5242880``, ``5MiB``, ``64M`` (binary), ``100MB`` (decimal), ``1.5G``."""
    s = text.strip().lower()
    match = _SIZE.fullmatch(s)
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ParseError(f"bad size {shown(text)} (use e.g. 8MiB, 64M, 1GiB, 100MB)")
    value = _EXACT.multiply(Decimal(match.group(1)), _SIZE_UNITS[match.group(2)])
    if value > MAX_SIZE:
        raise ParseError(f"size {shown(text)} too large")
    if value != int(value):
        raise ParseError(f"bad size {shown(text)}: not a whole number of bytes")
    return int(value)


@dataclass(frozen=True, slots=True)
class S3Url:
    """A parsed ``s3://bucket/key-or-prefix``; ``key`` is ``""`` for a whole bucket."""

    bucket: str
    key: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def parse_s3_url(text: str, *, require_key: bool = False) -> S3Url:
    """Parse ``s3://BUCKET[/KEY]``. The key is kept byte for byte (no normalisation)."""
    if not text.startswith("s3://"):
        raise ParseError(f"not an S3 URL: {text!r} (expected s3://BUCKET[/KEY])")
    rest = text[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ParseError(f"no bucket in {text!r} (expected s3://BUCKET[/KEY])")
    if not _BUCKET.fullmatch(bucket):
        raise ParseError(f"bad bucket name {bucket!r} in {text!r}")
    if require_key and not key:
        raise ParseError(f"no object key in {text!r} (expected s3://BUCKET/KEY)")
    return S3Url(bucket=bucket, key=key)
