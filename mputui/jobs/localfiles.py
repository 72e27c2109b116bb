"""Local files as put sees them: the tree walk with include/exclude rules, keys, content types, and the one
streaming pass that computes a file's MD5 and its part MD5s (through gzip when asked).

The digest pass is the only place a local byte is hashed: uploads send the part MD5s it computed as
``Content-MD5``, so a file that changes between the pass and the upload is refused by the server (BadDigest)
or by the ETag check, never stored silently.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import mimetypes
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mputui.jobs.filerules import Rule, selected
from mputui.jobs.plan import part_count
from mputui.s3.cancel import CancelToken
from mputui.s3.checksums import READ_BLOCK, multipart_etag

GZIP_LEVEL = 6


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One file to put: where it is, its path relative to the tree root (``/``-separated), its key."""

    path: str
    rel: str
    key: str
    size: int
    mtime_ns: int


def key_for(prefix: str, rel: str, *, single_file: bool) -> str:
    """PREFIX + relative path; a single file put to a PREFIX not ending with ``/`` lands at PREFIX exactly."""
    if single_file and prefix and not prefix.endswith("/"):
        return prefix
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return base + rel


def walk(
    root: str | Path,
    prefix: str,
    *,
    rules: Sequence[Rule] = (),
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[LocalFile]:
    """Every regular file under ``root`` (or ``root`` itself), sorted, that the rules select.

    Directory symlinks are not followed (no loops); ``on_skip(path, reason)`` hears about unreadable entries.
    """
    root_path = Path(root)
    try:
        st = root_path.stat()
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {root}: {exc.strerror or exc}") from exc
    if stat.S_ISREG(st.st_mode):
        rel = root_path.name
        if selected(rel, rules):
            yield LocalFile(
                str(root_path), rel, key_for(prefix, rel, single_file=True), st.st_size, st.st_mtime_ns
            )
        return
    if not stat.S_ISDIR(st.st_mode):
        raise FileNotFoundError(f"{root} is neither a file nor a directory")

    def on_error(exc: OSError) -> None:
        if on_skip is not None:
            on_skip(str(exc.filename), exc.strerror or str(exc))

    for dirpath, dirnames, filenames in os.walk(root_path, onerror=on_error):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root_path).as_posix()
            if not selected(rel, rules):
                continue
            try:
                fst = full.stat()
            except OSError as exc:
                if on_skip is not None:
                    on_skip(str(full), exc.strerror or str(exc))
                continue
            if not stat.S_ISREG(fst.st_mode):
                if on_skip is not None:
                    on_skip(str(full), "not a regular file")
                continue
            yield LocalFile(
                str(full), rel, key_for(prefix, rel, single_file=False), fst.st_size, fst.st_mtime_ns
            )


def guess_content_type(key: str) -> str | None:
    """The content type for a key's name (``None`` when unknown: the server's default applies)."""
    kind, _ = mimetypes.guess_type(key.rsplit("/", 1)[-1], strict=False)
    return kind


@dataclass(frozen=True, slots=True)
class Digest:
    """The bytes that will be stored (gzipped or not): size, MD5, and the MD5 of each ``part_size`` chunk."""

    size: int
    md5: str
    part_size: int
    part_md5s: tuple[str, ...]

    @property
    def multipart_etag(self) -> str:
        """The ETag a multipart upload at ``part_size`` gives these bytes."""
        return multipart_etag(self.part_md5s)


class _HashSink:
    """A write-only file that hashes what it is given, whole and per part.

    With ``parallel``, the part MD5s are computed on a helper thread while the caller computes the whole MD5
    (hashlib lets go of the GIL): a big file's hash pass takes one MD5's time, not two. ``close()`` always.
    """

    QUEUE_BLOCKS = 8  # blocks handed over but not yet hashed: bounds the memory the helper may hold

    def __init__(self, part_size: int, *, parallel: bool = False) -> None:
        self.part_size = part_size
        self.whole = hashlib.md5()
        self.part = hashlib.md5()
        self.in_part = 0
        self.size = 0
        self.parts: list[str] = []
        self._queue: queue.Queue[bytes | None] | None = None
        self._helper: threading.Thread | None = None
        if parallel:
            self._queue = queue.Queue(self.QUEUE_BLOCKS)
            self._helper = threading.Thread(target=self._hash_parts, name="mputui-md5", daemon=True)
            self._helper.start()

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.whole.update(view)
        self.size += len(view)
        if self._queue is not None:
            self._queue.put(bytes(data) if not isinstance(data, bytes) else data)
        else:
            self._update_parts(view)
        return len(data)

    def _update_parts(self, view: memoryview) -> None:
        while view:
            take = min(len(view), self.part_size - self.in_part)
            self.part.update(view[:take])
            self.in_part += take
            view = view[take:]
            if self.in_part == self.part_size:
                self.parts.append(self.part.hexdigest())
                self.part, self.in_part = hashlib.md5(), 0

    def _hash_parts(self) -> None:
        assert self._queue is not None
        while (block := self._queue.get()) is not None:
            self._update_parts(memoryview(block))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        """Let the helper thread finish what it was given and stop (idempotent)."""
        if self._helper is not None and self._queue is not None:
            self._queue.put(None)
            self._helper.join()
            self._helper = None

    def digest(self) -> Digest:
        self.close()
        parts = list(self.parts)
        if self.in_part or not parts:
            parts.append(self.part.hexdigest())
        assert len(parts) == part_count(self.size, self.part_size)
        return Digest(self.size, self.whole.hexdigest(), self.part_size, tuple(parts))


def digest_file(
    path: str | Path,
    part_size: int,
    *,
    gzip_it: bool = False,
    progress: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> Digest:
    """One pass over the file: MD5 and part MD5s of the stored bytes (the gzip output when ``gzip_it``).

    ``progress(n)`` after each block read; ``cancel`` is polled between blocks (InterruptedError).
    """
    # Part MD5s on a second core only pay off when there is more than one part to hash.
    sink = _HashSink(part_size, parallel=os.path.getsize(path) > 2 * part_size)
    try:
        stream_file(path, sink, gzip_it=gzip_it, progress=progress, cancel=cancel)
        return sink.digest()
    finally:
        sink.close()


def stream_file(
    path: str | Path,
    out: _HashSink | BinaryIO,
    *,
    gzip_it: bool,
    progress: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Write the file's stored bytes to ``out``: as is, or gzipped deterministically (no name, mtime 0, so
    the same file always gives the same bytes, and a re-run finds its journaled job)."""
    with open(path, "rb") as handle:
        target: Any = (
            gzip.GzipFile(filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=out, mtime=0)
            if gzip_it
            else out
        )
        while True:
            if cancel is not None and cancel.cancelled:
                raise InterruptedError("cancelled")
            block = handle.read(READ_BLOCK)
            if not block:
                break
            target.write(block)
            if progress is not None:
                progress(len(block))
        if gzip_it:
            target.close()


def gzip_bytes(path: str | Path) -> bytes:
    """The gzip of a (small) file, byte-identical to what ``digest_file(gzip_it=True)`` hashed."""
    buffer = io.BytesIO()
    stream_file(path, buffer, gzip_it=True)
    return buffer.getvalue()


def read_range(path: str | Path, offset: int, size: int) -> bytes:
    """``size`` bytes of a file from ``offset`` (OSError if the file is shorter now)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise OSError(f"{path} is shorter than expected (changed while being uploaded?)")
    return data
