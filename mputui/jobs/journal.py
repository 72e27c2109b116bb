"""The job journal: one JSON file per multipart upload mputui creates, so no upload is ever orphaned.

A record is written *before* CreateMultipartUpload, updated with the upload id and with each part as it
completes, and removed only once Complete or Abort succeeded. Files live in ``state_dir()/jobs``, are
written atomically (temp file, fsync, rename) with mode 0600, and hold no credentials: endpoints are stored
without any user:password part, profiles by name only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mputui.locations import state_dir
from mputui.s3.errors import MputuiError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process job lock
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION = 1


def clean_endpoint(url: str | None) -> str | None:
    """``url`` without any ``user:password@`` part (never journal a secret)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def job_id_for(src_endpoint: str | None, src: str, dst_endpoint: str | None, dst: str, src_etag: str) -> str:
    """A stable id for copying this source version to this destination (re-running finds the same job)."""
    text = "\n".join(
        [clean_endpoint(src_endpoint) or "", src, clean_endpoint(dst_endpoint) or "", dst, src_etag]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class JobRecord:
    """One journaled multipart job. ``done`` maps part number → ETag for every part known complete."""

    id: str
    src_bucket: str
    src_key: str
    src_etag: str
    src_size: int
    dst_bucket: str
    dst_key: str
    part_size: int
    parts_total: int
    method: str = "multipart"  # "multipart" (UploadPartCopy) or "stream" (ranged GET → UploadPart)
    kind: str = "copy"  # "copy"; "put"/"resume" (from a local file: src_bucket is "", src_key the path)
    upload_id: str | None = None
    done: dict[int, str] = field(default_factory=dict)
    src_endpoint: str | None = None
    dst_endpoint: str | None = None
    src_profile: str | None = None
    dst_profile: str | None = None
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    version: int = JOURNAL_VERSION
    extra: dict[str, str] = field(default_factory=dict)  # kind-specific settings (put: content type, gzip)

    @property
    def src(self) -> str:
        if not self.src_bucket:  # a local file (put/resume)
            return self.src_key
        return f"s3://{self.src_bucket}/{self.src_key}"

    @property
    def dst(self) -> str:
        return f"s3://{self.dst_bucket}/{self.dst_key}"

    @property
    def bytes_done(self) -> int:
        """Bytes in the parts journaled as done."""
        return sum(min(self.part_size, self.src_size - (n - 1) * self.part_size) for n in self.done)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["done"] = {str(n): etag for n, etag in sorted(self.done.items())}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Parse a journal file's content (raises ValueError/KeyError/TypeError on a damaged one)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["done"] = {int(n): str(e) for n, e in (data.get("done") or {}).items()}
        record = cls(**values)
        if not isinstance(record.src_size, int) or not isinstance(record.part_size, int):
            raise TypeError("sizes must be integers")
        return record


class Journal:
    """The journal directory (default ``state_dir()/jobs``). Thread-safe for distinct records."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or state_dir() / "jobs"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def save(self, record: JobRecord) -> None:
        """Write ``record`` atomically (fsynced temp file renamed over the old one), mode 0600."""
        record.updated = _now()
        data = json.dumps(record.to_json(), indent=1, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{record.id}.", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(record.id))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_dir()

    def load(self, job_id: str) -> JobRecord | None:
        """The record with exactly this id, or None."""
        try:
            text = self.path(job_id).read_text()
        except FileNotFoundError:
            return None
        try:
            return JobRecord.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise MputuiError(f"journal file {self.path(job_id)} is damaged: {exc}") from exc

    def records(self) -> list[JobRecord]:
        """Every readable record, oldest first (damaged files are skipped; see ``damaged()``)."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append(JobRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(out, key=lambda r: r.created)

    def damaged(self) -> list[Path]:
        """Journal files that cannot be read as records."""
        bad = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                JobRecord.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                bad.append(path)
        return bad

    def find(self, prefix: str) -> JobRecord:
        """The one record whose id starts with ``prefix`` (MputuiError exit 2 if none or several)."""
        matches = [r for r in self.records() if r.id.startswith(prefix)] if prefix else []
        if not matches:
            raise MputuiError(f"no journaled job {prefix!r} (see `mputui jobs`)", exit_code=2)
        if len(matches) > 1:
            raise MputuiError(
                f"job id {prefix!r} is ambiguous: {', '.join(r.id for r in matches)}", exit_code=2
            )
        return matches[0]

    def remove(self, job_id: str) -> None:
        """Forget a job (call only after its upload was completed or aborted)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(job_id).unlink()
        self._fsync_dir()

    def by_upload(self) -> dict[tuple[str, str, str], JobRecord]:
        """Records by (bucket, key, upload id), so a listing can label the uploads that belong to a job."""
        return {(r.dst_bucket, r.dst_key, r.upload_id): r for r in self.records() if r.upload_id}

    @contextlib.contextmanager
    def lock(self, job_id: str) -> Iterator[None]:
        """Hold the job's cross-process lock; MputuiError if another mputui process runs this job."""
        if fcntl is None:
            yield
            return
        path = self.directory / f"{job_id}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise MputuiError(f"job {job_id} is being run by another mputui process") from None
            # The holder before us may have unlinked the file between our open and flock: lock the live one.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                if not self.path(job_id).exists():
                    path.unlink()
            os.close(fd)

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
