"""The job journal: one JSON file per multipart upload mputui creates, so no upload is ever orphaned.

A record is written *before* CreateMultipartUpload, updated with the upload id and with each part as it
completes, and removed only once Complete or Abort succeeded. Files live in ``state_dir()/jobs``, are
written atomically (temp file, fsync, rename) with mode 0600, and hold no credentials: endpoints are stored
without any user:password part, profiles by name only. The directory is kept 0700; a record owned by another user
or writable by others is never loaded (another local user could have planted it). Temp files that a killed save
left behind are removed when the journal is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mputui.locations import state_dir, user_only_dir
from mputui.s3.errors import MputuiError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process job lock
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION = 1
# A save holds its temp file for one write + fsync; one this old was left by a process that died mid-save.
STALE_TEMP_SECONDS = 300


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


class UntrustedRecord(OSError):
    """A journal file that another user owns or may have written."""


def _read_record(path: Path) -> JobRecord:
    """Parse one journal file, refusing (UntrustedRecord) one that is another user's or writable by others."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise UntrustedRecord(f"journal file {path} belongs to uid {st.st_uid}, not to you: ignored")
        if stat.S_IMODE(st.st_mode) & 0o022:
            raise UntrustedRecord(f"journal file {path} is writable by other users: ignored")
        return JobRecord.from_json(json.loads(f.read()))


class Journal:
    """The journal directory (default ``state_dir()/jobs``). Thread-safe for distinct records."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or state_dir() / "jobs"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        user_only_dir(self.directory)
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if path.lstat().st_mtime < cutoff:
                    path.unlink()

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
        """The record with exactly this id, or None (MputuiError for a damaged or untrusted file)."""
        path = self.path(job_id)
        try:
            return _read_record(path)
        except FileNotFoundError:
            return None
        except UntrustedRecord as exc:
            raise MputuiError(str(exc)) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MputuiError(f"journal file {path} is damaged: {exc}") from exc

    def records(self) -> list[JobRecord]:
        """Every readable record, oldest first (damaged and untrusted files are skipped; see ``damaged()``)."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append(_read_record(path))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(out, key=lambda r: r.created)

    def damaged(self) -> list[Path]:
        """Journal files that cannot be read as records, or are not to be trusted (see ``problems()``)."""
        return [path for path, _ in self.problems()]

    def problems(self) -> list[tuple[Path, str]]:
        """Journal files that are not loaded, with the reason: damaged, another user's, writable by others."""
        bad = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                _read_record(path)
            except UntrustedRecord as exc:
                bad.append((path, str(exc)))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                bad.append((path, f"unreadable journal file {path}: {exc}"))
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
