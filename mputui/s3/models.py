"""Frozen value types the headless core hands to the CLI and the TUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Part:
    """One uploaded part of a multipart upload, as ListParts reports it."""

    part_number: int
    size: int
    etag: str
    last_modified: datetime | None
    checksum_algorithm: str | None = None  # which flexible checksum ``checksum`` is (CRC32, SHA256, ...)
    checksum: str | None = None  # the part's checksum as listed (base64), if the server lists one


class ProblemCode(StrEnum):
    """Why a commit of listed parts is refused (the values appear in ``--json`` output)."""

    NO_PARTS = "no-parts"
    GAP = "gap"  # part numbers missing between 1 and the highest listed one
    NO_PREFIX = "no-contiguous-prefix"  # a contiguous prefix was asked for, and part 1 is missing
    SMALL_PART = "small-part"  # a part other than the last is under S3's minimum part size
    TOO_MANY_PARTS = "too-many-parts"  # a part number over S3's limit


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a commit is refused, with the part numbers it concerns (the missing ones for a gap)."""

    code: ProblemCode
    parts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PartFlags:
    """One listed part and what in it would block a commit (GAP: numbers missing just before it)."""

    part: Part
    codes: tuple[ProblemCode, ...] = ()
    missing_before: tuple[int, int] | None = None  # first..last part number missing just before this part


@dataclass(frozen=True, slots=True)
class Upload:
    """One in-progress multipart upload with the totals of its listed parts.

    ``parts``/``size`` are ``None`` when the parts could not be listed; ``error`` then says why.
    ``last_modified`` is the newest part's time (``None`` when there are no parts or they are unknown).
    """

    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    storage_class: str | None = None
    initiator: str | None = None
    parts: int | None = None
    size: int | None = None
    last_modified: datetime | None = None
    error: str | None = None
    checksum_algorithm: str | None = None  # the algorithm it was created with (CRC32, CRC64NVME, ...)
    checksum_type: str | None = None  # COMPOSITE or FULL_OBJECT, as listed

    @property
    def last_activity(self) -> datetime:
        """The newest sign of life: the newest part, or the initiation time."""
        if self.last_modified is not None and self.last_modified > self.initiated:
            return self.last_modified
        return self.initiated

    @property
    def ident(self) -> tuple[str, str, str]:
        """The exact target of any action on this upload: (bucket, key, upload id)."""
        return (self.bucket, self.key, self.upload_id)


@dataclass(frozen=True, slots=True)
class BucketSummary:
    """Totals for one bucket once its scan has finished (or failed)."""

    name: str
    uploads: int = 0
    parts: int = 0
    size: int = 0
    unknown_sizes: int = 0
    oldest: datetime | None = None
    error: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class ScanTotals:
    """Totals over a whole scan."""

    buckets: int = 0
    failed_buckets: int = 0
    uploads: int = 0
    parts: int = 0
    size: int = 0
    unknown_sizes: int = 0
    requests: int = 0
    elapsed: float = 0.0
    cancelled: bool = False


# --- scan events, streamed in the order they happen ---------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketsListed:
    """The scan knows which buckets it will visit."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UploadFound:
    """An upload, with its parts already totalled (or its parts error)."""

    upload: Upload


@dataclass(frozen=True, slots=True)
class BucketDone:
    """A bucket is fully scanned (or failed: ``summary.error``)."""

    summary: BucketSummary


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """Periodic counters while the scan runs."""

    buckets_done: int
    buckets_total: int
    uploads: int
    requests: int
    elapsed: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ScanFailed:
    """The scan could not start or continue at all (e.g. ListBuckets failed)."""

    message: str


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """Always the last event of a scan."""

    totals: ScanTotals
    buckets: tuple[BucketSummary, ...] = field(default=())


ScanEvent = BucketsListed | UploadFound | BucketDone | ScanProgress | ScanFailed | ScanFinished
