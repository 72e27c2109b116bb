"""An interrupted put: kill -9 mid-upload, then re-run / ``jobs resume`` / a changed file; never an orphan upload.

``MPUTUI_TEST_CRASH_AFTER_PARTS=N`` makes the process SIGKILL itself right after journaling its N-th part;
``--concurrency 1`` keeps exactly N parts on the server at that moment.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.events import JobEvent, ObjectDone, ObjectSkipped, PartSent, RunProgress
from mputui.jobs.journal import Journal
from mputui.jobs.put import Putter
from mputui.jobs.put_plan import PutOptions
from mputui.parsing import parse_s3_url
from mputui.s3.connect import S3Connection

MIB = 1024 * 1024


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def env_for(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    env = server.env()
    env["MPUTUI_HOME"] = str(home)
    env.update(extra)
    return env


def uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def journal_files(home: Path) -> list[Path]:
    return sorted((home / "state" / "jobs").glob("*.json"))


def put_cmd(root: Path, bucket: str, *extra: str) -> list[str]:
    return ["put", str(root), f"s3://{bucket}/up/", "--part-size", "5MiB", "--yes", "--json", *extra]


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a-big.bin": os.urandom(17 * MIB), "b-big.bin": os.urandom(11 * MIB), "c.txt": b"small"}
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def crash_put(server: S3Server, home: Path, root: Path, bucket: str, after: int) -> dict[str, Any]:
    proc = run_cli(
        None, *put_cmd(root, bucket, "--concurrency", "1"),
        env=env_for(server, home, MPUTUI_TEST_CRASH_AFTER_PARTS=str(after)),
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    (path,) = journal_files(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log = path.with_suffix(".parts")  # the parts journaled since the record was last written whole
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for text in (path.read_text(), log.read_text()):
        assert server.secret_key not in text and server.access_key not in text
    loaded = Journal(path.parent).load(path.stem)
    assert loaded is not None
    return loaded.to_json()


def test_sigkill_mid_put_then_rerun_completes_without_orphans(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    root = tmp_path / "src"
    files = make_tree(root)
    record = crash_put(s3_server, tmp_path, root, bucket, after=2)
    assert (record["kind"], record["dst_key"], len(record["done"])) == ("put", "up/a-big.bin", 2)
    (upload,) = uploads(client, bucket)
    assert upload["UploadId"] == record["upload_id"]  # the only upload on the server is journaled

    proc = run_cli(None, *put_cmd(root, bucket), env=env_for(s3_server, tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    done = {x["dst"].rsplit("/", 1)[-1]: x for x in lines if x["type"] == "uploaded"}
    assert (done["a-big.bin"]["resumed"], done["a-big.bin"]["parts_sent"]) == (True, 2)  # parts 3 and 4 only
    assert done["b-big.bin"]["resumed"] is False
    assert sorted(
        x["part_number"] for x in lines if x["type"] == "part" and x["dst"].endswith("a-big.bin")
    ) == [3, 4]
    for name, data in files.items():
        assert client.get_object(Bucket=bucket, Key=f"up/{name}")["Body"].read() == data
    assert uploads(client, bucket) == []
    assert journal_files(tmp_path) == []


def test_an_interrupted_put_job_is_listed_and_finished_by_jobs_resume(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    root = tmp_path / "src"
    files = make_tree(root)
    record = crash_put(moto_server, tmp_path, root, bucket, after=1)
    env = env_for(moto_server, tmp_path)
    (job,) = json_lines(run_cli(None, "jobs", "--json", env=env).stdout)
    assert (job["id"], job["kind"], job["src"]) == (record["id"], "put", str(root / "a-big.bin"))
    assert (job["parts_done"], job["parts_total"]) == (1, 4)
    resumed = run_cli(None, "jobs", "resume", job["id"][:8], "--yes", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(x["part_number"] for x in json_lines(resumed.stdout) if x["type"] == "part") == [2, 3, 4]
    assert client.get_object(Bucket=bucket, Key="up/a-big.bin")["Body"].read() == files["a-big.bin"]
    assert uploads(client, bucket) == [] and journal_files(tmp_path) == []


def test_a_file_changed_since_the_crash_aborts_the_old_upload(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    root = tmp_path / "src"
    make_tree(root)
    old = crash_put(moto_server, tmp_path, root, bucket, after=1)
    new_data = os.urandom(17 * MIB)
    (root / "a-big.bin").write_bytes(new_data)
    proc = run_cli(None, *put_cmd(root, bucket), env=env_for(moto_server, tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    (aborted,) = [x for x in lines if x["type"] == "aborted"]
    assert aborted["job"] == old["id"] and "changed" in aborted["reason"]
    assert client.get_object(Bucket=bucket, Key="up/a-big.bin")["Body"].read() == new_data
    assert uploads(client, bucket) == [] and journal_files(tmp_path) == []


def test_api_cancel_keeps_the_journal_and_a_rerun_resumes(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """What the TUI (or Ctrl-C) does: cancel from the callback, keep the journal, the same put resumes."""
    client = moto_server.client()
    bucket = bucket_factory()
    root = tmp_path / "src"
    files = make_tree(root)
    conn = S3Connection(moto_server.settings(concurrency=1))
    journal = Journal(tmp_path / "jobs")
    options = PutOptions(part_size=5 * MIB)
    events: list[JobEvent] = []

    def on_event(event: JobEvent) -> None:
        events.append(event)
        if isinstance(event, PartSent):
            putter.cancel()

    putter = Putter(conn, options, journal=journal, on_event=on_event)
    plan = putter.plan(str(root), parse_s3_url(f"s3://{bucket}/up/"))
    assert [i.action for i in plan.items] == ["upload", "upload", "upload"]
    summary = putter.run(plan)
    assert summary.cancelled and summary.failed == 0
    (record,) = journal.records()
    assert record.kind == "put" and len(record.done) == 1
    assert [u["UploadId"] for u in uploads(client, bucket)] == [record.upload_id]
    assert any(isinstance(e, RunProgress) and e.files_total == 3 for e in events)

    events.clear()
    putter = Putter(conn, options, journal=journal, on_event=events.append)
    plan = putter.plan(str(root), parse_s3_url(f"s3://{bucket}/up/"))
    assert {i.key: i.action for i in plan.items}["up/a-big.bin"] == "resume"
    summary = putter.run(plan)
    assert (summary.uploaded, summary.resumed, summary.failed, summary.cancelled) == (3, 1, 0, False)
    resumed = [e for e in events if isinstance(e, ObjectDone) and e.resumed]
    assert len(resumed) == 1 and resumed[0].parts_sent == 3
    assert not any(isinstance(e, ObjectSkipped) for e in events)
    for name, data in files.items():
        assert client.get_object(Bucket=bucket, Key=f"up/{name}")["Body"].read() == data
    assert journal.records() == [] and uploads(client, bucket) == []
