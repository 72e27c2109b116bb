"""What ``cp SRC DST`` means: which objects, where each one lands (``cp -r`` semantics), and part sizes.

Paths behave like s3copy's (``cp -r``), for a source bucket holding ``folder-001/test-001``:

===========================================  ===============================
``s3://src s3://dst``                        ``folder-001/test-001``
``s3://src s3://dst/foo``                    ``foo/folder-001/test-001``
``s3://src/folder-001 s3://dst``             ``folder-001/test-001``
``s3://src/folder-001/* s3://dst``           ``test-001``
===========================================  ===============================

A source key that names an object copies that object: to DST's key exactly, or into DST when DST is a
bucket or ends with ``/``. A trailing slash on a source prefix changes nothing (as with ``cp -r``); a
single trailing ``*`` copies what the prefix holds rather than the folder itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mputui.parsing import ParseError, S3Url

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
DEFAULT_PART_SIZE = 64 * MIB
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * GIB
MAX_SINGLE_COPY = 5 * GIB


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed copy source: ``kind`` is object (maybe), prefix or glob; ``prefix`` is what to list."""

    bucket: str
    kind: str
    prefix: str
    base: str  # stripped from each listed key to get its relative path
    nest: str  # the folder name kept under the destination ("" for a bucket or a glob)


def source_spec(url: S3Url) -> SourceSpec:
    """Classify a source URL. ``kind == "object"`` means: an object if it exists, else the prefix ``key/``."""
    key = url.key
    if "*" in key[:-1]:
        raise ParseError(f"only a single trailing * is supported: {url}")
    if key.endswith("*"):
        pattern = key[:-1]
        base = pattern[: pattern.rfind("/") + 1]
        return SourceSpec(url.bucket, "glob", pattern, base, "")
    if not key:
        return SourceSpec(url.bucket, "prefix", "", "", "")
    folder = key.rstrip("/")
    if not folder:
        raise ParseError(f"bad source {url}: a key of only slashes")
    nest = folder.rsplit("/", 1)[-1] + "/"
    base = folder + "/"
    return SourceSpec(url.bucket, "object" if not key.endswith("/") else "prefix", base, base, nest)


def as_prefix(spec: SourceSpec) -> SourceSpec:
    """An ``object`` spec that turned out not to be an object: the folder of that name."""
    return SourceSpec(spec.bucket, "prefix", spec.prefix, spec.base, spec.nest)


def dest_dir(dst: S3Url) -> str:
    """DST's key as a folder: ``""`` for a bucket, else ending with ``/``."""
    return dst.key if not dst.key or dst.key.endswith("/") else dst.key + "/"


def dest_key_for_prefix(spec: SourceSpec, key: str, dst: S3Url) -> str:
    """Where a key listed under ``spec`` lands."""
    return dest_dir(dst) + spec.nest + key[len(spec.base) :]


def dest_key_for_object(src_key: str, dst: S3Url) -> str:
    """Where a single object lands: DST's key, or inside DST when it is a bucket or a folder."""
    if dst.key and not dst.key.endswith("/"):
        return dst.key
    return dest_dir(dst) + src_key.rsplit("/", 1)[-1]


def effective_part_size(size: int, requested: int) -> int:
    """``requested``, grown (to whole MiB) when needed so that ``size`` fits in 10,000 parts."""
    if size > MAX_OBJECT_SIZE:
        raise ValueError(f"object too large for S3 ({size} bytes > 5 TiB)")
    if math.ceil(size / requested) <= MAX_PARTS:
        return requested
    return min(MAX_PART_SIZE, math.ceil(size / MAX_PARTS / MIB) * MIB)


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))


def part_range(part_number: int, size: int, part_size: int) -> tuple[int, int]:
    """Inclusive byte range of part ``part_number`` (1-based)."""
    start = (part_number - 1) * part_size
    return start, min(size, start + part_size) - 1


def part_sizes(size: int, part_size: int) -> list[int]:
    return [
        b - a + 1
        for a, b in (part_range(n, size, part_size) for n in range(1, part_count(size, part_size) + 1))
    ]


def uses_multipart(size: int, part_size: int) -> bool:
    """Objects up to the part size are one CopyObject/PUT; larger ones a multipart upload."""
    return size > part_size or size > MAX_SINGLE_COPY
