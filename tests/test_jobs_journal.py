"""The job journal: atomic user-only files, no secrets, stable ids, cross-process lock."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mputui.jobs.events import FileSource, S3Source
from mputui.jobs.journal import JobRecord, Journal, clean_endpoint, job_id_for, record_job_id
from mputui.s3.errors import MputuiError


def record(job_id: str = "0123456789abcdef", **overrides: object) -> JobRecord:
    values: dict[str, object] = {
        "id": job_id,
        "source": S3Source("a", "big/file"),
        "src_etag": "abc-3",
        "src_size": 12 * 1024 * 1024,
        "dst_bucket": "b",
        "dst_key": "copy",
        "part_size": 5 * 1024 * 1024,
        "parts_total": 3,
        "src_endpoint": clean_endpoint("https://user:s3cr3t@host.example:9000/base"),
    }
    values.update(overrides)
    return JobRecord(**values)  # type: ignore[arg-type]


def test_save_load_round_trip_and_file_mode(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs")
    r = record(upload_id="up-1", done={2: "e2", 1: "e1"})
    journal.save(r)
    path = journal.path(r.id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.directory.stat().st_mode) & 0o077 == 0
    assert [p.name for p in journal.directory.iterdir()] == [path.name]  # no temp file left behind
    loaded = journal.load(r.id)
    assert loaded is not None
    assert loaded.done == {1: "e1", 2: "e2"}
    assert loaded.to_json() == r.to_json()
    assert loaded.bytes_done == 10 * 1024 * 1024
    assert journal.by_upload() == {("b", "copy", "up-1"): loaded}


def test_no_credentials_in_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    r = record()
    journal.save(r)
    text = journal.path(r.id).read_text()
    assert "s3cr3t" not in text and "user" not in text
    assert json.loads(text)["src_endpoint"] == "https://host.example:9000/base"


def test_save_replaces_atomically(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    r = record(upload_id="u")
    journal.save(r)
    inode = journal.path(r.id).stat().st_ino
    r.done[1] = "etag1"
    journal.save(r)
    assert journal.path(r.id).stat().st_ino != inode  # a new file renamed over the old one, never rewritten
    loaded = journal.load(r.id)
    assert loaded is not None and loaded.done == {1: "etag1"}


def test_job_id_is_stable_and_depends_on_the_source_version() -> None:
    a = job_id_for("http://h", "s3://a/k", "http://h", "s3://b/k", "etag1")
    assert a == job_id_for("http://h", "s3://a/k", "http://h", "s3://b/k", "etag1")
    assert a != job_id_for("http://h", "s3://a/k", "http://h", "s3://b/k", "etag2")
    assert a != job_id_for("http://h", "s3://a/k", "http://h", "s3://b/k2", "etag1")
    assert len(a) == 16


def test_find_by_prefix_and_remove(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(record("aaaa000000000001"))
    journal.save(record("aaaa000000000002"))
    journal.save(record("bbbb000000000003"))
    assert journal.find("bbbb").id == "bbbb000000000003"
    with pytest.raises(MputuiError, match="ambiguous") as exc:
        journal.find("aaaa")
    assert exc.value.exit_code == 2
    with pytest.raises(MputuiError, match="no journaled job"):
        journal.find("cccc")
    journal.remove("bbbb000000000003")
    assert [r.id for r in journal.records()] == ["aaaa000000000001", "aaaa000000000002"]


def test_damaged_file_is_reported_not_fatal_for_listing(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.save(record())
    (tmp_path / "ffff000000000000.json").write_text("{not json")
    assert [r.id for r in journal.records()] == ["0123456789abcdef"]
    assert journal.damaged() == [tmp_path / "ffff000000000000.json"]
    with pytest.raises(MputuiError, match="damaged"):
        journal.load("ffff000000000000")


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with journal.lock("job1"):
        with pytest.raises(MputuiError, match="another mputui process"), journal.lock("job1"):
            pass
        with journal.lock("job2"):
            pass
    with journal.lock("job1"):  # released again
        pass
    assert not any(p.suffix == ".lock" for p in tmp_path.iterdir())


def test_default_directory_is_under_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPUTUI_HOME", str(tmp_path))
    journal = Journal()
    assert journal.directory == tmp_path / "state" / "jobs"
    assert stat.S_IMODE(os.stat(journal.directory).st_mode) == 0o700


def test_a_part_is_one_appended_line_and_a_whole_save_folds_the_log_in(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    r = record(upload_id="up-1")
    journal.save(r)
    path, log = journal.path(r.id), journal.part_log(r.id)
    written = path.read_bytes(), path.stat().st_ino
    for n in (2, 1, 3):
        journal.add_part(r, n, f"e{n}")
    assert (path.read_bytes(), path.stat().st_ino) == written  # the record is not rewritten per part
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"upload_id": "up-1", "part": n, "etag": f"e{n}"} for n in (2, 1, 3)
    ]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    loaded = journal.load(r.id)
    assert loaded is not None and loaded.done == {1: "e1", 2: "e2", 3: "e3"} == r.done
    journal.save(loaded)
    assert not log.exists()
    assert json.loads(path.read_text())["done"] == {"1": "e1", "2": "e2", "3": "e3"}
    journal.add_part(loaded, 3, "e3")
    journal.remove(r.id)
    assert list(tmp_path.iterdir()) == []


def test_a_torn_last_line_of_the_part_log_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    r = record(upload_id="up-1")
    journal.save(r)
    journal.add_part(r, 1, "e1")
    journal.add_part(r, 2, "e2")
    log = journal.part_log(r.id)
    whole = log.read_bytes()
    line3 = b'{"upload_id": "up-1", "part": 3, "etag": "e3"}\n'
    for cut in range(1, len(line3)):  # a kill anywhere inside the write of part 3
        log.write_bytes(whole + line3[:cut])
        loaded = journal.load(r.id)
        assert loaded is not None
        assert loaded.done == ({1: "e1", 2: "e2", 3: "e3"} if cut == len(line3) - 1 else {1: "e1", 2: "e2"})
    assert journal.problems() == []


def test_part_log_lines_of_another_upload_are_ignored(tmp_path: Path) -> None:
    """A log left by an earlier upload of the same job (which vanished, or was recreated) claims nothing."""
    journal = Journal(tmp_path)
    r = record(upload_id="old")
    journal.save(r)
    journal.add_part(r, 1, "e1")
    r.upload_id, r.done = "new", {}
    path = journal.path(r.id)
    path.write_text(
        json.dumps(r.to_json())
    )  # as if a save was killed after its rename, before the log's unlink
    os.chmod(path, 0o600)
    loaded = journal.load(r.id)
    assert loaded is not None and loaded.upload_id == "new" and loaded.done == {}


def test_a_part_log_writable_by_others_refuses_its_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    r = record(upload_id="up-1")
    journal.save(r)
    journal.add_part(r, 1, "e1")
    os.chmod(journal.part_log(r.id), 0o666)
    assert journal.records() == []
    with pytest.raises(MputuiError, match="writable by other users"):
        journal.load(r.id)


def test_an_old_part_log_without_its_record_is_removed_at_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    orphan, young = journal.part_log("aaaa000000000001"), journal.part_log("aaaa000000000002")
    for path in (orphan, young):
        path.write_text('{"upload_id": "u", "part": 1, "etag": "e"}\n')
    os.utime(orphan, (1_000_000_000, 1_000_000_000))
    Journal(tmp_path)
    assert not orphan.exists() and young.exists()


# Records as mputui wrote them before the record was typed by its source: a put stored its file in src_key.
OLD_PUT_RECORD = {
    "id": "5f0c1e2d3a4b5c6d",
    "src_bucket": "",
    "src_key": "/data/site/big.iso",
    "src_etag": "9e107d9d372bb6826bd81d3542a419d6",
    "src_size": 12582912,
    "dst_bucket": "b",
    "dst_key": "www/big.iso",
    "part_size": 5242880,
    "parts_total": 3,
    "method": "multipart",
    "kind": "put",
    "upload_id": "up-9",
    "done": {"1": "e1"},
    "src_endpoint": None,
    "dst_endpoint": "http://127.0.0.1:9000",
    "src_profile": None,
    "dst_profile": None,
    "created": "2026-11-30T10:00:00.000000Z",
    "updated": "2026-11-30T10:00:05.000000Z",
    "version": 1,
    "extra": {"content_type": "application/octet-stream", "content_encoding": "", "file_size": "12582912"},
}
OLD_COPY_RECORD = {
    **OLD_PUT_RECORD,
    "id": "a1b2c3d4e5f60718",
    "src_bucket": "a",
    "src_key": "big/file",
    "src_etag": "abc-3",
    "kind": "copy",
    "method": "stream-multipart",
    "extra": {},
}


def test_records_written_before_typed_sources_still_load(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for data in (OLD_PUT_RECORD, OLD_COPY_RECORD):
        journal.path(str(data["id"])).write_text(json.dumps(data))
        os.chmod(journal.path(str(data["id"])), 0o600)
    put = journal.load(str(OLD_PUT_RECORD["id"]))
    copy = journal.load(str(OLD_COPY_RECORD["id"]))
    assert put is not None and copy is not None
    assert (put.source, put.path, put.src, put.kind, put.method) == (
        FileSource("/data/site/big.iso"),
        "/data/site/big.iso",
        "/data/site/big.iso",
        "put",
        "multipart",
    )
    assert (copy.source, copy.src, copy.method) == (
        S3Source("a", "big/file"),
        "s3://a/big/file",
        "stream-multipart",
    )
    assert put.done == {1: "e1"}
    old_id = record_job_id(put)
    # Saved again, a file job stores its path as a path; the job keeps its identity.
    journal.save(put)
    data = json.loads(journal.path(put.id).read_text())
    assert data["src_path"] == "/data/site/big.iso" and "src_key" not in data and "src_bucket" not in data
    again = journal.load(put.id)
    assert again is not None and again.source == put.source and record_job_id(again) == old_id
    assert json.loads(journal.path(copy.id).read_text())["src_key"] == "big/file"


def test_a_record_with_an_unknown_kind_is_damaged(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    path = journal.path("0000000000000bad")
    path.write_text(json.dumps({**OLD_COPY_RECORD, "id": "0000000000000bad", "kind": "sync"}))
    os.chmod(path, 0o600)
    assert journal.records() == [] and journal.damaged() == [path]
