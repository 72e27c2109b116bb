"""The job journal: one record per multipart upload mputui creates, so no upload is ever orphaned.

A record is written *before* CreateMultipartUpload, updated with the upload id and with each part as it
completes, and removed only once Complete or Abort succeeded. Files live in ``state_dir()/jobs`` with mode 0600
and hold no credentials: endpoints are stored without any user:password part, profiles by name only. The
directory is kept 0700; a record (or part log) owned by another user or writable by others is never loaded
(another local user could have planted it). Temp files that a killed save left behind are removed when the
journal is opened.

Two files per job, both plain text:

- ``ID.json``: the record, written whole and atomically (temp file, fsync, rename, fsync of the directory) when
  the job changes state: before Create, with the upload id, after syncing the parts with the server.
- ``ID.parts``: an append-only log, one JSON line per part as it completes
  (``{"upload_id": ..., "part": N, "etag": ...}``), one ``write`` plus ``fdatasync`` each. A whole save folds
  the log into the record and deletes it (compaction: every run of a job saves it whole under the job's lock
  before sending a part), so the log only holds the parts of the current run.

Why a log: rewriting the whole record for every part cost O(parts) per part, O(parts²) per job (4,000 parts:
398 MB written, 14 s CPU); a log line is ~90 bytes whatever the job's size (``python bench/journal.py``).
``sqlite3`` in WAL mode is O(1) per part too but writes a page and a WAL frame (4 KiB+) per commit, several
times the log's bytes and CPU in the same bench, and its files are not readable by a person. Reading a log
never invents a part: lines of another upload id (a log left by an earlier upload of the same job) are ignored,
and so is a line that does not parse (the torn last line of a write that a kill interrupted); a part missing
from the journal is found again by listing the upload's parts when the job resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mputui.jobs.events import FileSource, S3Source, Source
from mputui.jobs.kinds import CopyMethod, JobKind, Method, parse_method
from mputui.locations import state_dir, user_only_dir
from mputui.s3.errors import MputuiError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process job lock
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION = 1
# A save holds its temp file for one write + fsync; one this old was left by a process that died mid-save.
STALE_TEMP_SECONDS = 300
PART_LOG_SUFFIX = ".parts"
# Appended to the MD5 in the identity of a put job that stores the file gzipped.
GZIP_SUFFIX = "+gzip"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def clean_endpoint(url: str | None) -> str | None:
    """``url`` without any ``user:password@`` part (never journal a secret), spelled one way: lower-case scheme
    and host, no default port, no trailing slash. Every spelling of one endpoint gives one job id."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


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
    """One journaled multipart job. ``done`` maps part number → ETag for every part known complete.

    ``source`` is an S3 object (a copy; stored as ``src_bucket``/``src_key``) or a local file (put/resume; stored
    as ``src_path``; records written before that stored the path in ``src_key`` with an empty ``src_bucket``)."""

    id: str
    source: Source
    src_etag: str
    src_size: int
    dst_bucket: str
    dst_key: str
    part_size: int
    parts_total: int
    method: Method = CopyMethod.MULTIPART  # a CopyMethod for a copy, a PutMethod for put/resume
    kind: JobKind = JobKind.COPY
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
        return str(self.source)

    @property
    def path(self) -> str:
        """The local file a put/resume job reads (TypeError for a copy)."""
        if not isinstance(self.source, FileSource):
            raise TypeError(f"job {self.id} copies {self.source}: it reads no local file")
        return self.source.path

    @property
    def dst(self) -> str:
        return f"s3://{self.dst_bucket}/{self.dst_key}"

    @property
    def bytes_done(self) -> int:
        """Bytes in the parts journaled as done."""
        return sum(min(self.part_size, self.src_size - (n - 1) * self.part_size) for n in self.done)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["source"]
        if isinstance(self.source, S3Source):
            data["src_bucket"], data["src_key"] = self.source.bucket, self.source.key
        else:
            data["src_path"] = self.source.path
        data["done"] = {str(n): etag for n, etag in sorted(self.done.items())}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Parse a journal file's content (raises ValueError/KeyError/TypeError on a damaged one)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["done"] = {int(n): str(e) for n, e in (data.get("done") or {}).items()}
        values["source"] = _source(data)
        values["kind"] = kind = JobKind(data.get("kind", JobKind.COPY))
        values["method"] = parse_method(kind, data.get("method", CopyMethod.MULTIPART))
        record = cls(**values)
        if not isinstance(record.src_size, int) or not isinstance(record.part_size, int):
            raise TypeError("sizes must be integers")
        return record


def _source(data: dict[str, Any]) -> Source:
    if "src_path" in data:
        return FileSource(_text(data["src_path"]))
    bucket, key = _text(data["src_bucket"]), _text(data["src_key"])
    return S3Source(bucket, key) if bucket else FileSource(key)  # the older spelling of a local file


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("source names must be strings")
    return value


def record_job_id(record: JobRecord) -> str:
    """The id ``record``'s job gets from today's rules: a record written under another spelling of its endpoint
    (before ``clean_endpoint`` settled on one) has another id, and is found by this one."""
    if record.kind is JobKind.COPY:
        return job_id_for(record.src_endpoint, record.src, record.dst_endpoint, record.dst, record.src_etag)
    local = f"file://{record.path}"
    if record.kind is JobKind.PUT:
        gzipped = record.extra.get("content_encoding") == "gzip"
        return job_id_for(
            None, local, record.dst_endpoint, record.dst, record.src_etag + (GZIP_SUFFIX * gzipped)
        )
    return job_id_for(None, local, record.dst_endpoint, record.dst, record.upload_id or "")


class JobIndex:
    """The journal's records, read once, by the id their job gets today (a plan looks up every item)."""

    def __init__(self, journal: Journal) -> None:
        self.records = journal.records()
        self._ids = {record_job_id(r): r.id for r in self.records}

    def resolve(self, job_id: str) -> str:
        """The id under which the journal holds the job ``job_id`` (itself unless an older spelling)."""
        return self._ids.get(job_id, job_id)

    def elsewhere(self, dst: str, dst_endpoint: str | None, src: str | None = None) -> list[JobRecord]:
        """Records writing ``dst`` (from ``src`` if given) through an endpoint that is not ``dst_endpoint``:
        perhaps this job under a name of the endpoint that cannot be matched (another host name, a proxy)."""
        ours = clean_endpoint(dst_endpoint)
        return [
            r
            for r in self.records
            if r.dst == dst and (src is None or r.src == src) and clean_endpoint(r.dst_endpoint) != ours
        ]


class UntrustedRecord(OSError):
    """A journal file that another user owns or may have written."""


def _open_trusted(path: Path) -> bytes:
    """The content of one journal file, refusing (UntrustedRecord) one that is another user's or writable by
    others."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise UntrustedRecord(f"journal file {path} belongs to uid {st.st_uid}, not to you: ignored")
        if stat.S_IMODE(st.st_mode) & 0o022:
            raise UntrustedRecord(f"journal file {path} is writable by other users: ignored")
        return f.read()


def _read_record(path: Path) -> JobRecord:
    """Parse one record and fold in its part log (see the module docstring)."""
    record = JobRecord.from_json(json.loads(_open_trusted(path)))
    try:
        log = _open_trusted(path.with_suffix(PART_LOG_SUFFIX))
    except FileNotFoundError:
        return record
    if record.upload_id is not None:
        record.done.update(parse_part_log(log, record.upload_id))
    return record


def parse_part_log(data: bytes, upload_id: str) -> dict[int, str]:
    """Part number → ETag from a part log, for ``upload_id`` only; lines that do not parse are skipped."""
    done = {}
    for line in data.split(b"\n"):
        try:
            entry = json.loads(line)
            if entry["upload_id"] == upload_id:
                done[int(entry["part"])] = str(entry["etag"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn line (killed mid-write) or an empty one
    return done


def part_log_line(upload_id: str, part_number: int, etag: str) -> bytes:
    return (json.dumps({"upload_id": upload_id, "part": part_number, "etag": etag}) + "\n").encode()


class Journal:
    """The journal directory (default ``state_dir()/jobs``). Thread-safe for distinct records; ``add_part`` may
    be called from several threads for one record."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or state_dir() / "jobs"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        user_only_dir(self.directory)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
        for path in self.directory.glob(f"*{PART_LOG_SUFFIX}"):  # a remove killed between its two unlinks
            with contextlib.suppress(OSError):
                if not path.with_suffix(".json").exists() and path.lstat().st_mtime < cutoff:
                    path.unlink()

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def part_log(self, job_id: str) -> Path:
        return self.directory / f"{job_id}{PART_LOG_SUFFIX}"

    def _record_lock(self, job_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(job_id, threading.Lock())

    def save(self, record: JobRecord) -> None:
        """Write ``record`` whole, atomically (fsynced temp file renamed over the old one), mode 0600, and drop
        its part log, now folded in."""
        with self._record_lock(record.id):
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
            with contextlib.suppress(FileNotFoundError):
                self.part_log(record.id).unlink()
            self._fsync_dir()

    def add_part(self, record: JobRecord, part_number: int, etag: str) -> None:
        """Journal one completed part of ``record``'s upload: one line appended to its part log and synced."""
        assert record.upload_id is not None
        line = part_log_line(record.upload_id, part_number, etag)
        with self._record_lock(record.id):
            record.done[part_number] = etag
            path = self.part_log(record.id)
            flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
            created = False
            try:
                fd = os.open(path, flags)
            except FileNotFoundError:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
                created = True
            try:
                os.write(fd, line)  # one write: a kill leaves at most this line torn
                getattr(os, "fdatasync", os.fsync)(fd)
            finally:
                os.close(fd)
            if created:
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
        with self._record_lock(job_id):
            for path in (self.path(job_id), self.part_log(job_id)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
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
