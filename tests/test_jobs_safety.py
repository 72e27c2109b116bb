"""Safety of the job journal and of ``jobs`` commands: ``jobs resume`` asks like ``cp`` (and refuses without
``--yes`` off a terminal); the state directories are user-only and records of another user are never loaded."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from test_copy_resume import crash_copy, env_for, journal_files, setup_source, uploads

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.events import S3Source
from mputui.jobs.journal import JobRecord, Journal
from mputui.locations import state_dir
from mputui.s3.errors import MputuiError


def test_jobs_resume_without_yes_off_a_terminal_is_refused(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    src, dst = s3_bucket_factory(), s3_bucket_factory()
    data = setup_source(client, src)
    crash_copy(s3_server, tmp_path, f"s3://{src}/big.bin", f"s3://{dst}/big.bin", after=1)
    job_id = journal_files(tmp_path)[0].stem
    env = env_for(s3_server, tmp_path)

    def parts() -> list[int]:
        (upload,) = uploads(client, dst)
        listed = client.list_parts(Bucket=dst, Key="big.bin", UploadId=upload["UploadId"]).get("Parts", [])
        return [p["PartNumber"] for p in listed]

    refused = run_cli(None, "jobs", "resume", job_id, env=env)  # stdin is /dev/null, as in a script
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "refusing to resume a job without --yes" in refused.stderr and "Traceback" not in refused.stderr
    assert parts() == [1] and journal_files(tmp_path) != []  # nothing sent, nothing completed
    read_only = run_cli(None, "--read-only", "jobs", "resume", job_id, "--yes", env=env)
    assert read_only.returncode == 2 and "--read-only" in read_only.stderr
    assert parts() == [1]

    done = run_cli(None, "jobs", "resume", job_id, "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert client.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data
    assert uploads(client, dst) == [] and journal_files(tmp_path) == []


def _record(job_id: str = "0123456789abcdef") -> JobRecord:
    return JobRecord(
        id=job_id,
        source=S3Source("a", "k"),
        src_etag="e",
        src_size=10,
        dst_bucket="b",
        dst_key="k",
        part_size=5,
        parts_total=2,
    )


def test_world_writable_state_directories_are_made_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    jobs = home / "state" / "jobs"
    jobs.mkdir(parents=True)
    for d in (home / "state", jobs):
        os.chmod(d, 0o777)  # as another tool, or an old umask, may have left them
    monkeypatch.setenv("MPUTUI_HOME", str(home))
    assert state_dir() == home / "state"
    journal = Journal()
    assert journal.directory == jobs
    for d in (home / "state", jobs):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    journal.save(_record())
    assert stat.S_IMODE(journal.path("0123456789abcdef").stat().st_mode) == 0o600


def test_state_directory_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    home = tmp_path / "home"
    (home / "state").mkdir(parents=True)
    os.chown(home / "state", 12345, 12345)
    monkeypatch.setenv("MPUTUI_HOME", str(home))
    with pytest.raises(MputuiError) as info:
        state_dir()
    assert info.value.exit_code == 2 and "uid 12345" in info.value.message
    proc = run_cli(None, "jobs", env={**os.environ, "MPUTUI_HOME": str(home)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "uid 12345" in proc.stderr and "Traceback" not in proc.stderr


def test_records_of_another_user_or_writable_by_others_are_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPUTUI_HOME", str(tmp_path / "home"))
    journal = Journal()
    journal.save(_record("1111111111111111"))
    journal.save(_record("2222222222222222"))
    planted = journal.path("2222222222222222")
    os.chmod(planted, 0o666)  # anyone could have written it
    mine = [r.id for r in journal.records()]
    if os.geteuid() == 0:
        journal.save(_record("3333333333333333"))
        os.chown(journal.path("3333333333333333"), 12345, 12345)
    assert mine == ["1111111111111111"]
    assert [r.id for r in journal.records()] == ["1111111111111111"]
    assert planted in journal.damaged()
    with pytest.raises(MputuiError, match="writable by other users"):
        journal.load("2222222222222222")
    if os.geteuid() == 0:
        with pytest.raises(MputuiError, match="uid 12345"):
            journal.load("3333333333333333")
        proc = run_cli(None, "jobs", "--json", env={**os.environ, "MPUTUI_HOME": str(tmp_path / "home")})
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["1111111111111111"]
        assert "uid 12345" in proc.stderr and "writable by other users" in proc.stderr


def test_leftover_journal_temp_files_are_removed_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPUTUI_HOME", str(tmp_path / "home"))
    journal = Journal()
    journal.save(_record())
    old = journal.directory / ".0123456789abcdef.abc123.tmp"  # a save killed between write and rename
    fresh = journal.directory / ".0123456789abcdef.def456.tmp"  # a save in progress in another process
    for path in (old, fresh):
        path.write_text("{half a rec")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    reopened = Journal()
    assert not old.exists()
    assert fresh.exists()
    assert [r.id for r in reopened.records()] == ["0123456789abcdef"]
