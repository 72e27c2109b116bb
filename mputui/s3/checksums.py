"""MD5s and multipart ETags, computed by streaming files (memory stays flat for any file size)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mputui.s3.models import Part

READ_BLOCK = 1024 * 1024
_PLAIN_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def plain_md5(etag: str) -> str | None:
    """The hex MD5 inside a plain (non-multipart, unencrypted) ETag like ``"9e10…"``, else ``None``."""
    match = _PLAIN_ETAG.match(etag.strip())
    return match.group(1).lower() if match else None


def multipart_etag(part_md5s: Iterable[str]) -> str:
    """The ETag S3 gives a completed multipart object: MD5 of the concatenated part MD5s, ``-N``."""
    digests = [bytes.fromhex(m) for m in part_md5s]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def expected_etag(parts: Iterable[Part]) -> str | None:
    """The multipart ETag the object will get from these parts, if every part ETag is a plain MD5."""
    md5s = []
    for p in parts:
        m = plain_md5(p.etag)
        if m is None:
            return None
        md5s.append(m)
    return multipart_etag(md5s) if md5s else None


def normalize_etag(etag: str | None) -> str:
    """An ETag without surrounding space and quotes (servers differ in quoting), its case kept: it is sent
    back as is in conditions (``CopySourceIfMatch``) and journaled; compare with ``.lower()`` for MD5s."""
    return (etag or "").strip().strip('"')


def quoted_etag(etag: str | None) -> str:
    """The quoted form CompleteMultipartUpload takes and ListParts gives ("" for none)."""
    bare = normalize_etag(etag)
    return f'"{bare}"' if bare else ""


@dataclass(frozen=True, slots=True)
class PartCheck:
    """How one listed part compares with the same byte range of a local file."""

    part_number: int
    size: int
    status: str  # "match" | "mismatch" | "missing" (file too short) | "unknown" (ETag is not an MD5)
    local_md5: str | None


@dataclass(frozen=True, slots=True)
class FileVerification:
    """The comparison of a local file with an upload's listed parts."""

    path: str
    file_size: int
    parts: tuple[PartCheck, ...]
    local_etag: str | None  # the multipart ETag of the file split at the listed part sizes

    @property
    def matching(self) -> int:
        return sum(1 for p in self.parts if p.status == "match")

    @property
    def mismatching(self) -> tuple[int, ...]:
        return tuple(p.part_number for p in self.parts if p.status == "mismatch")

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(p.part_number for p in self.parts if p.status == "missing")

    @property
    def unknown(self) -> tuple[int, ...]:
        return tuple(p.part_number for p in self.parts if p.status == "unknown")

    @property
    def parts_size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def ok(self) -> bool:
        """Every part matches and the file has exactly the parts' bytes."""
        return self.matching == len(self.parts) and self.file_size == self.parts_size


def md5_range(handle: BinaryIO, size: int) -> tuple[str, int]:
    """MD5 of the next ``size`` bytes of an open binary file; returns (hex, bytes actually read)."""
    digest = hashlib.md5()
    remaining = size
    while remaining > 0:
        block = handle.read(min(READ_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)
    return digest.hexdigest(), size - remaining


def verify_file(
    path: str | Path,
    parts: Iterable[Part],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> FileVerification:
    """Split the file at the listed part sizes, MD5 each chunk and compare with each part's ETag.

    ``progress(bytes_done, bytes_total)`` is called after each part. Reads the file once, 1 MiB at a time.
    """
    path = Path(path)
    ordered = sorted(parts, key=lambda p: p.part_number)
    file_size = path.stat().st_size
    total = sum(p.size for p in ordered)
    checks: list[PartCheck] = []
    local_md5s: list[str] = []
    done = 0
    with path.open("rb") as handle:
        for part in ordered:
            local, got = md5_range(handle, part.size)
            done += part.size
            if got < part.size:
                checks.append(PartCheck(part.part_number, part.size, "missing", None))
                local_md5s.clear()
                break
            local_md5s.append(local)
            remote = plain_md5(part.etag)
            status = "unknown" if remote is None else "match" if remote == local else "mismatch"
            checks.append(PartCheck(part.part_number, part.size, status, local))
            if progress:
                progress(done, total)
    # Parts after a short read are missing too.
    for part in ordered[len(checks) :]:
        checks.append(PartCheck(part.part_number, part.size, "missing", None))
    local_etag = multipart_etag(local_md5s) if local_md5s and len(local_md5s) == len(ordered) else None
    return FileVerification(str(path), file_size, tuple(checks), local_etag)
