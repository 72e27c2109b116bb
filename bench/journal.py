"""Job journal benchmark: what journaling one part costs as a job grows, new journal vs the old one.

    python bench/journal.py [--parts 100,1000,10000] [--dir PATH]

Journals N parts of one job, as a multipart run does (one call per completed part), three ways, in the same run
and the same directory:

- ``old``: the journal before the part log (a copy of its algorithm is kept here as the baseline): the whole
  record rewritten as JSON to a temp file, fsynced, renamed, directory fsynced, for every part.
- ``log``: ``mputui.jobs.journal.Journal.add_part``: one line appended to the part log, fdatasynced.
- ``sqlite``: the alternative that was considered: one INSERT committed per part into an sqlite3 database in
  WAL mode with ``synchronous=FULL`` (the same durability: the part is on disk when the call returns).

Prints bytes handed to ``write`` (``wchar`` of /proc/self/io) and CPU seconds (user + system of this process)
per part, and the old journal's cost as a multiple of each new one's. The directory defaults to one under the
user cache directory (a real file system: fsync on tmpfs costs nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import platformdirs

from bench.harness import print_table, write_result
from mputui.jobs.journal import JobRecord, Journal

MIB = 1024 * 1024


def _record(job_id: str, parts: int) -> JobRecord:
    return JobRecord(
        id=job_id,
        src_bucket="src",
        src_key="data/big.bin",
        src_etag="0123456789abcdef0123456789abcdef-9",
        src_size=parts * 8 * MIB,
        dst_bucket="dst",
        dst_key="copy/big.bin",
        part_size=8 * MIB,
        parts_total=parts,
        upload_id="2~" + "x" * 30,
        src_endpoint="https://s3.example.com",
        dst_endpoint="https://s3.example.com",
    )


def _etag(n: int) -> str:
    return f"{n:032x}"


def old_save(directory: Path, record: JobRecord) -> None:
    """The old ``Journal.save``, run for every part: the whole record, atomically, twice fsynced."""
    data = json.dumps(record.to_json(), indent=1, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{record.id}.", suffix=".tmp", dir=directory)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / f"{record.id}.json")
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def run_old(directory: Path, parts: int) -> None:
    record = _record("old", parts)
    old_save(directory, record)
    for n in range(1, parts + 1):
        record.done[n] = _etag(n)
        old_save(directory, record)


def run_log(directory: Path, parts: int) -> None:
    journal = Journal(directory)
    record = _record("log", parts)
    journal.save(record)
    for n in range(1, parts + 1):
        journal.add_part(record, n, _etag(n))


def run_sqlite(directory: Path, parts: int) -> None:
    db = sqlite3.connect(directory / "jobs.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS parts (job TEXT, upload_id TEXT, part INTEGER, etag TEXT)")
    record = _record("sqlite", parts)
    assert record.upload_id is not None
    for n in range(1, parts + 1):
        db.execute("BEGIN")
        db.execute("INSERT INTO parts VALUES (?, ?, ?, ?)", (record.id, record.upload_id, n, _etag(n)))
        db.execute("COMMIT")
    db.close()


def _wchar() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def measure(directory: Path, parts: int, fn: Callable[[Path, int], None]) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=directory))
    try:
        written, cpu, wall = _wchar(), time.process_time(), time.perf_counter()
        fn(work, parts)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        written = _wchar() - written
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"bytes": written, "cpu": cpu, "wall": wall}


WAYS: dict[str, Callable[[Path, int], None]] = {"old": run_old, "log": run_log, "sqlite": run_sqlite}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="100,1000,10000", help="job sizes in parts (comma-separated)")
    parser.add_argument("--dir", type=Path, help="where to write (default: under the user cache directory)")
    args = parser.parse_args(argv)
    base = args.dir or platformdirs.user_cache_path("mputui-bench") / "journal"
    base.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for parts in (int(p) for p in args.parts.split(",")):
        found = {way: measure(base, parts, fn) for way, fn in WAYS.items()}
        for way, m in found.items():
            rows.append(
                {
                    "parts": parts,
                    "journal": way,
                    "bytes/part": round(m["bytes"] / parts),
                    "cpu ms/part": 1000 * m["cpu"] / parts,
                    "wall ms/part": 1000 * m["wall"] / parts,
                    "total MB": m["bytes"] / 1e6,
                    "total cpu s": m["cpu"],
                    "old/this bytes": found["old"]["bytes"] / m["bytes"] if m["bytes"] else None,
                    "old/this cpu": found["old"]["cpu"] / m["cpu"] if m["cpu"] else None,
                }
            )
        print(f"{parts} parts done", flush=True)
    columns = list(rows[0])
    print_table(
        "journal cost per part (old: whole record per part; log: part log; sqlite: WAL)", rows, columns
    )
    write_result("journal", {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
