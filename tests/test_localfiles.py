"""The put hash pass: whole and part MD5s, serial or with the part MD5s on a helper thread (pure logic)."""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from pathlib import Path

import pytest

from mputui.jobs.localfiles import _HashSink, digest_file, gzip_bytes, stream_file
from mputui.s3.cancel import CancelToken

PART = 64 * 1024


def expected(data: bytes, part: int) -> tuple[str, tuple[str, ...]]:
    chunks = [data[i : i + part] for i in range(0, len(data), part)] or [b""]
    return hashlib.md5(data).hexdigest(), tuple(hashlib.md5(c).hexdigest() for c in chunks)


@pytest.mark.parametrize("size", [0, 1, PART, PART + 1, 3 * PART, 5 * PART + 12345])
@pytest.mark.parametrize("parallel", [False, True])
def test_serial_and_parallel_sinks_hash_alike(tmp_path: Path, size: int, parallel: bool) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    sink = _HashSink(PART, parallel=parallel)
    stream_file(path, sink, gzip_it=False)
    got = sink.digest()
    assert (got.md5, got.part_md5s) == expected(data, PART)
    assert got.size == size


def test_digest_file_uses_the_helper_for_big_files_and_stops_it(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "big"
    path.write_bytes(data)
    before = threading.active_count()
    got = digest_file(path, 1024 * 1024)
    assert (got.md5, got.part_md5s) == expected(data, 1024 * 1024)
    assert threading.active_count() == before  # the helper thread is gone


def test_gzip_digest_matches_the_bytes_that_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_bytes(b"hello multipart world\n" * 200_000)
    got = digest_file(path, PART, gzip_it=True)
    stored = gzip_bytes(path)
    assert gzip.decompress(stored) == path.read_bytes()
    assert (got.md5, got.part_md5s) == expected(stored, PART)


def test_a_cancelled_pass_leaves_no_thread_behind(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(os.urandom(4 * 1024 * 1024))
    before = threading.active_count()
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    with pytest.raises(InterruptedError):
        digest_file(path, 1024 * 1024, cancel=CancelToken(also=cancelled))
    assert threading.active_count() == before
