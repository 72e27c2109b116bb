"""MD5s, multipart ETags and S3's flexible checksums (CRC32, CRC32C, CRC64NVME, SHA*, MD5, XXHASH*), computed
by streaming files (memory stays flat for any file size).

The CRCs S3 uses beyond zlib's CRC32 (CRC32C, CRC64NVME), their combination into a full-object checksum and the
XXHASH family come from awscrt, the library botocore itself computes them with: the same bytes on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from awscrt import checksums as crt

from mputui.s3.models import Part

READ_BLOCK = 1024 * 1024
_PLAIN_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')

CHECKSUM_ALGORITHMS = (
    "CRC32",
    "CRC32C",
    "CRC64NVME",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
    "XXHASH64",
    "XXHASH3",
    "XXHASH128",
)
"""S3's flexible checksum algorithms (the API's ``ChecksumAlgorithm`` values)."""
COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
_NOT_VALUES = ("ChecksumAlgorithm", "ChecksumType")
_CRCS: dict[str, tuple[Callable[[bytes, int], int], Callable[[int, int, int], int], int]] = {
    "CRC32": (crt.crc32, crt.combine_crc32, 4),
    "CRC32C": (crt.crc32c, crt.combine_crc32c, 4),
    "CRC64NVME": (crt.crc64nvme, crt.combine_crc64nvme, 8),
}
_XXHASHES = {
    "XXHASH64": crt.XXHash.new_xxhash64,
    "XXHASH3": crt.XXHash.new_xxhash3_64,
    "XXHASH128": crt.XXHash.new_xxhash3_128,
}


def checksum_field(algorithm: str) -> str:
    """The API field (and XML element) holding a checksum of ``algorithm``: ``ChecksumCRC32``."""
    return "Checksum" + algorithm.upper()


def listed_checksum(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(algorithm, base64 value) of the checksum field of a listed part (``ChecksumCRC32``...), else Nones."""
    for name, value in item.items():
        if name.startswith("Checksum") and name not in _NOT_VALUES and value:
            return name[len("Checksum") :].upper(), str(value)
    return None, None


def effective_checksum_type(algorithm: str | None, listed_type: str | None) -> str | None:
    """The checksum type an upload has: as listed, else S3's default for its algorithm (CRC64NVME exists only
    as FULL_OBJECT, the others default to COMPOSITE); None without an algorithm."""
    if not algorithm:
        return None
    if listed_type:
        return listed_type.upper()
    return FULL_OBJECT if algorithm.upper() == "CRC64NVME" else COMPOSITE


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, update: Callable[[bytes, int], int], size: int) -> None:
        self._update = update
        self._size = size
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = self._update(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(self._size, "big")


class _XXHash:
    def __init__(self, new: Callable[[], Any]) -> None:
        self._hash = new()

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return bytes(self._hash.finalize())


def new_hasher(algorithm: str) -> Hasher | None:
    """A running hash of ``algorithm`` (digest: the bytes S3 shows base64-encoded), or None when mputui
    cannot compute it (an algorithm newer than this version)."""
    name = algorithm.upper()
    if name in ("SHA1", "SHA256", "SHA512", "MD5"):
        return hashlib.new(name.lower())
    if name in _CRCS:
        update, _, size = _CRCS[name]
        return _Crc(update, size)
    if name in _XXHASHES:
        return _XXHash(_XXHASHES[name])
    return None


def can_compute(algorithm: str) -> bool:
    """True when mputui computes checksums of ``algorithm`` locally."""
    return new_hasher(algorithm) is not None


def checksum_of(algorithm: str, data: bytes) -> str | None:
    """The base64 checksum of ``data`` (what S3 lists for a part of these bytes), or None (not computable)."""
    hasher = new_hasher(algorithm)
    if hasher is None:
        return None
    hasher.update(data)
    return base64.b64encode(hasher.digest()).decode()


def full_object_checksum(algorithm: str | None, parts: Iterable[Part]) -> str | None:
    """The FULL_OBJECT checksum of the object these parts make, combined from their listed CRCs (no byte
    read); None unless ``algorithm`` is a CRC and every part lists a checksum of it."""
    if not algorithm or algorithm.upper() not in _CRCS:
        return None
    name = algorithm.upper()
    _, combine, size = _CRCS[name]
    value: int | None = None
    for part in parts:
        if part.checksum is None or (part.checksum_algorithm or "").upper() != name:
            return None
        try:
            raw = base64.b64decode(part.checksum, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != size:
            return None
        crc = int.from_bytes(raw, "big")
        value = crc if value is None else combine(value, crc, part.size)
    return None if value is None else base64.b64encode(value.to_bytes(size, "big")).decode()


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
    status: str  # "match" | "mismatch" | "missing" (file too short) | "unknown" (neither ETag nor checksum to check)
    local_md5: str | None
    local_checksum: str | None = None  # of the upload's algorithm, when the part lists a checksum to compare
    checksum_status: str | None = None  # "match" | "mismatch" | None (not compared)


@dataclass(frozen=True, slots=True)
class FileVerification:
    """The comparison of a local file with an upload's listed parts."""

    path: str
    file_size: int
    parts: tuple[PartCheck, ...]
    local_etag: str | None  # the multipart ETag of the file split at the listed part sizes
    checksum_algorithm: str | None = None  # the upload's flexible checksum algorithm
    checksum_note: str | None = None  # why the upload's checksums were not compared (MD5s only), if so

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
    def checksums_compared(self) -> int:
        return sum(1 for p in self.parts if p.checksum_status is not None)

    @property
    def parts_size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def ok(self) -> bool:
        """Every part matches and the file has exactly the parts' bytes."""
        return self.matching == len(self.parts) and self.file_size == self.parts_size


def hash_range(handle: BinaryIO, size: int, *hashers: Hasher) -> int:
    """Feed the next ``size`` bytes of an open binary file to every hasher; returns the bytes actually read."""
    remaining = size
    while remaining > 0:
        block = handle.read(min(READ_BLOCK, remaining))
        if not block:
            break
        for hasher in hashers:
            hasher.update(block)
        remaining -= len(block)
    return size - remaining


def md5_range(handle: BinaryIO, size: int) -> tuple[str, int]:
    """MD5 of the next ``size`` bytes of an open binary file; returns (hex, bytes actually read)."""
    digest = hashlib.md5()
    got = hash_range(handle, size, digest)
    return digest.hexdigest(), got


def _checksum_note(algorithm: str | None, parts: list[Part]) -> str | None:
    if not algorithm:
        return None
    if not can_compute(algorithm):
        return f"{algorithm} checksums cannot be computed locally: parts verified by MD5 only"
    if not any(p.checksum for p in parts):
        return f"the server lists no {algorithm} checksums for the parts: parts verified by MD5 only"
    return None


def verify_file(
    path: str | Path,
    parts: Iterable[Part],
    *,
    algorithm: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FileVerification:
    """Split the file at the listed part sizes and compare each chunk's MD5 with its part's ETag and, where
    the part lists a checksum, the chunk's checksum of the upload's ``algorithm`` (default: the parts') with it.

    A part matches when nothing compared differs and at least one thing agrees. ``progress(bytes_done,
    bytes_total)`` is called after each part. Reads the file once, 1 MiB at a time.
    """
    path = Path(path)
    ordered = sorted(parts, key=lambda p: p.part_number)
    if algorithm is None:
        algorithm = next((p.checksum_algorithm for p in ordered if p.checksum_algorithm), None)
    file_size = path.stat().st_size
    total = sum(p.size for p in ordered)
    checks: list[PartCheck] = []
    local_md5s: list[str] = []
    done = 0
    with path.open("rb") as handle:
        for part in ordered:
            md5 = hashlib.md5()
            own = new_hasher(part.checksum_algorithm) if part.checksum and part.checksum_algorithm else None
            got = hash_range(handle, part.size, md5, *([own] if own is not None else []))
            done += part.size
            if got < part.size:
                checks.append(PartCheck(part.part_number, part.size, "missing", None))
                local_md5s.clear()
                break
            local = md5.hexdigest()
            local_md5s.append(local)
            remote = plain_md5(part.etag)
            by_etag = None if remote is None else remote == local
            local_sum = base64.b64encode(own.digest()).decode() if own is not None else None
            by_sum = None if local_sum is None else local_sum == part.checksum
            if by_etag is False or by_sum is False:
                status = "mismatch"
            elif by_etag or by_sum:
                status = "match"
            else:
                status = "unknown"
            sum_status = None if by_sum is None else "match" if by_sum else "mismatch"
            checks.append(PartCheck(part.part_number, part.size, status, local, local_sum, sum_status))
            if progress:
                progress(done, total)
    # Parts after a short read are missing too.
    for part in ordered[len(checks) :]:
        checks.append(PartCheck(part.part_number, part.size, "missing", None))
    local_etag = multipart_etag(local_md5s) if local_md5s and len(local_md5s) == len(ordered) else None
    return FileVerification(
        str(path), file_size, tuple(checks), local_etag, algorithm, _checksum_note(algorithm, ordered)
    )
