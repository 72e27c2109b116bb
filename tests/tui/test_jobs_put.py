"""Journaled put and resume jobs in the TUI jobs view: listed as interrupted next to copies, resumed with R
(from the jobs screen or the uploads pane), cancelled with x, refused under --read-only, and failing cleanly
when their local file is gone or changed. Real servers (moto, and Ceph RGW where ``s3_server`` is used).

The interrupted jobs are made the way users make them: the ``mputui`` CLI killed mid-upload by
``MPUTUI_TEST_CRASH_AFTER_PARTS`` (SIGKILL right after journaling that many parts).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_jobs import wait_for

from conftest import remaining, settle
from mputui.jobs.events import PartSent
from mputui.jobs.journal import JobRecord, Journal
from mputui.jobs.put import Putter
from mputui.tui.app import MputuiApp
from mputui.tui.screens.jobs import JobCard, JobsScreen

SIZE = (160, 45)
MIB = 1024 * 1024
PART = 5 * MIB
FILE_SIZE = 12 * MIB + 123  # three parts: 5 + 5 + 2 MiB (and a bit)


def cli(server: Any, home: Path, *args: str, crash_after: int) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mputui ARGS`` against ``server`` with its journal under ``home``, killed by the crash
    hook right after journaling ``crash_after`` parts."""
    env = server.env()
    env.update(MPUTUI_HOME=str(home), MPUTUI_TEST_CRASH_AFTER_PARTS=str(crash_after))
    return subprocess.run(
        [sys.executable, "-m", "mputui", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=120,
        check=False,
    )


def journal_of(home: Path) -> Journal:
    return Journal(home / "state" / "jobs")


def interrupted_put(server: Any, bucket: str, home: Path) -> tuple[Path, bytes, JobRecord]:
    """``mputui put`` of a 3-part file, killed after its first part: the put job stays journaled."""
    path = home / "src" / "big.bin"
    path.parent.mkdir()
    data = os.urandom(FILE_SIZE)
    path.write_bytes(data)
    proc = cli(
        server, home, "put", str(path), f"s3://{bucket}/up/", "--part-size", "5MiB", "--concurrency", "1",
        "--yes", "--json", crash_after=1,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    (record,) = journal_of(home).records()
    assert (record.kind, record.path, sorted(record.done)) == ("put", str(path), [1])
    assert record.upload_id is not None
    return path, data, record


def interrupted_resume(server: Any, bucket: str, home: Path) -> tuple[Path, bytes, JobRecord]:
    """An upload another client left with part 1, resumed by ``mputui resume`` and killed after one more
    part: a ``resume`` job with parts 1 and 2 journaled."""
    client = server.client()
    path = home / "big.bin"
    data = os.urandom(FILE_SIZE)
    path.write_bytes(data)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    client.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=1, Body=data[:PART])
    proc = cli(
        server, home, "resume", f"s3://{bucket}/big.bin", "--upload-id", upload_id, "--file", str(path),
        "--yes", "--json", "--concurrency", "1", crash_after=1,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    (record,) = journal_of(home).records()
    assert (record.kind, record.upload_id, sorted(record.done)) == ("resume", upload_id, [1, 2])
    return path, data, record


def parts_of(client: Any, record: JobRecord) -> list[int]:
    listed = client.list_parts(Bucket=record.dst_bucket, Key=record.dst_key, UploadId=record.upload_id)
    return sorted(p["PartNumber"] for p in listed.get("Parts", []))


def object_exists(client: Any, bucket: str, key: str) -> bool:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(o["Key"] == key for o in listed)


def card_text(screen: Any) -> str:
    """What the jobs screen's cards show (empty while they are being mounted)."""
    assert isinstance(screen, JobsScreen)
    return "\n".join(
        str(s.render())
        for card in screen.query(JobCard)
        for s in card.query(".job-line, .job-detail, .job-error")
    )


async def shown(pilot: Any, *texts: str) -> str:
    """Wait until the jobs screen shows every one of ``texts``; returns what it shows."""
    await wait_for(pilot, lambda: all(t in card_text(pilot.app.screen) for t in texts))
    return card_text(pilot.app.screen)


def finished_run(app: MputuiApp) -> Any:
    runs = [r for r in app.jobs.runs.values() if r.kind == "file"]
    return runs[0] if len(runs) == 1 and not runs[0].active else None


async def test_interrupted_put_job_is_listed_and_resumed_from_the_jobs_screen(
    s3_server: Any, s3_bucket_factory: Any, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    path, data, record = interrupted_put(s3_server, bucket, tmp_path)
    journal = journal_of(tmp_path)
    app = MputuiApp(s3_server.settings(concurrency=2), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (run,) = app.jobs.runs.values()
        assert (run.kind, run.state, run.job_kind, run.job_ids) == (
            "journal",
            "interrupted",
            "put",
            {record.id},
        )
        assert (run.src, run.dst) == (str(path), f"s3://{bucket}/{record.dst_key}")
        assert run.totals()[:4] == (PART, FILE_SIZE, 1, 3)
        (row,) = app.store.view
        assert row.ident == (bucket, record.dst_key, record.upload_id) and row.ident in app.uploads.jobs
        await pilot.press("J")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        text = await shown(pilot, "interrupted", str(path), "1/3 parts")
        assert f"interrupted put    {path} → s3://{bucket}/{record.dst_key}" in text, text
        assert f"5.0 MiB / {FILE_SIZE / MIB:.1f} MiB" in text, text
        await pilot.press("R")
        await wait_for(pilot, lambda: finished_run(app) is not None)
        resumed = finished_run(app)
        assert resumed.state == "done", (resumed.error, resumed.failures)
        assert resumed.job_kind == "put" and resumed.totals()[:4] == (FILE_SIZE, FILE_SIZE, 3, 3)
        await shown(pilot, "done", "3/3 parts")
        await pilot.press("escape")
        await settle(pilot)
        assert app.store.view == []  # the upload was completed: it left the table
        assert list(app.jobs.runs.values()) == [resumed]  # no interrupted job is left
    assert client.get_object(Bucket=bucket, Key=record.dst_key)["Body"].read() == data
    assert remaining(client, bucket) == set()
    assert journal.records() == []


async def test_interrupted_resume_job_is_resumed_from_the_uploads_pane(
    s3_server: Any, s3_bucket_factory: Any, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    path, data, record = interrupted_resume(s3_server, bucket, tmp_path)
    journal = journal_of(tmp_path)
    app = MputuiApp(s3_server.settings(concurrency=2), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (run,) = app.jobs.runs.values()
        assert (run.state, run.job_kind, run.src) == ("interrupted", "resume", str(path))
        assert run.totals()[:4] == (2 * PART, FILE_SIZE, 2, 3)
        row = app.uploads.current
        assert row is not None and row.ident == (bucket, "big.bin", record.upload_id)
        await pilot.press("R")  # on the highlighted upload, tagged as a job
        await wait_for(pilot, lambda: finished_run(app) is not None)
        resumed = finished_run(app)
        assert resumed.state == "done", (resumed.error, resumed.failures)
        assert resumed.totals()[:4] == (FILE_SIZE, FILE_SIZE, 3, 3)
        await settle(pilot)
        assert app.store.view == []
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    assert remaining(client, bucket) == set()
    assert journal.records() == []


@pytest.mark.parametrize("damage", ["deleted", "changed"])
async def test_put_job_whose_file_is_gone_or_changed_fails_and_keeps_the_upload(
    moto_server: Any, bucket_factory: Any, tmp_path: Path, damage: str
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    path, _data, record = interrupted_put(moto_server, bucket, tmp_path)
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(os.urandom(FILE_SIZE))
    journal = journal_of(tmp_path)
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("J", "R")
        await wait_for(pilot, lambda: finished_run(app) is not None)
        failed = finished_run(app)
        why = "no longer exists" if damage == "deleted" else "changed"
        assert failed.state == "failed" and failed.error is not None
        assert f"{path} {why} since job {record.id} started" in failed.error, failed.error
        assert "upload is kept" in failed.error and "\n" not in failed.error
        assert failed.resumable  # still journaled: R tries again
        await settle(pilot)
        text = await shown(pilot, "FAILED", f"{why} since job {record.id} started")
        assert "Traceback" not in text, text
        assert list(app.jobs.runs.values()) == [failed]  # not listed twice after the journal reload
    assert remaining(client, bucket) == {(record.dst_key, record.upload_id)}
    assert parts_of(client, record) == [1]  # nothing sent, nothing aborted
    assert not object_exists(client, bucket, record.dst_key)
    (kept,) = journal.records()
    assert (kept.id, sorted(kept.done)) == (record.id, [1])


async def test_resume_job_whose_file_is_gone_fails_and_keeps_the_upload(
    moto_server: Any, bucket_factory: Any, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    path, _data, record = interrupted_resume(moto_server, bucket, tmp_path)
    path.unlink()
    journal = journal_of(tmp_path)
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("J", "R")
        await wait_for(pilot, lambda: finished_run(app) is not None)
        failed = finished_run(app)
        assert failed.state == "failed" and failed.error is not None
        assert f"cannot read {path}" in failed.error and "\n" not in failed.error, failed.error
        await settle(pilot)
        await shown(pilot, "FAILED", f"cannot read {path}")
    assert remaining(client, bucket) == {("big.bin", record.upload_id)}
    assert parts_of(client, record) == [1, 2]
    assert [r.id for r in journal.records()] == [record.id]


async def test_read_only_does_not_resume_put_jobs(
    moto_server: Any, bucket_factory: Any, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    _path, _data, record = interrupted_put(moto_server, bucket, tmp_path)
    journal = journal_of(tmp_path)
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=journal, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        (run,) = app.jobs.runs.values()
        assert (run.state, run.job_kind) == ("interrupted", "put")
        assert app.uploads.current is not None and app.uploads.current.ident in app.uploads.jobs
        await pilot.press("R")  # the uploads pane's resume
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("R")  # the jobs screen's resume
        await settle(pilot)
        assert app.jobs.resume(record) is None  # the controller refuses too
        assert list(app.jobs.runs.values()) == [run] and run.state == "interrupted"
    assert remaining(client, bucket) == {(record.dst_key, record.upload_id)}
    assert parts_of(client, record) == [1]
    assert not object_exists(client, bucket, record.dst_key)
    (kept,) = journal.records()
    assert sorted(kept.done) == [1]


async def test_cancel_a_resumed_put_job_then_resume_it_again(
    moto_server: Any, bucket_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    _path, data, record = interrupted_put(moto_server, bucket, tmp_path)
    journal = journal_of(tmp_path)
    real_emit = Putter.emit
    held: list[Putter] = []

    def slow_emit(self: Putter, event: Any) -> None:
        real_emit(self, event)
        if isinstance(event, PartSent) and not held:
            # The first resume holds after its first part until the user cancels it (x): the cancel lands
            # mid-job however slow the machine is (one part at a time: concurrency 1).
            held.append(self)
            deadline = time.monotonic() + 30
            while not self.cancel_token.cancelled and time.monotonic() < deadline:
                time.sleep(0.02)

    monkeypatch.setattr(Putter, "emit", slow_emit)
    app = MputuiApp(moto_server.settings(concurrency=1), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("J", "R")
        await wait_for(pilot, lambda: bool(held))
        (run,) = app.jobs.runs.values()
        assert run.active and run.kind == "file"
        await wait_for(pilot, lambda: run.parts_done >= 2)
        await pilot.press("x")
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "cancelled" and run.resumable, (run.error, run.failures)
        (kept,) = journal.records()
        assert (kept.id, sorted(kept.done)) == (record.id, [1, 2])  # the journal keeps the sent part
        assert parts_of(client, record) == [1, 2]
        await settle(pilot)
        assert list(app.jobs.runs.values()) == [run]  # shown once, as the cancelled (resumable) job
        await shown(pilot, "cancelled", "R resumes it")
        await pilot.press("R")
        await wait_for(pilot, lambda: finished_run(app) is not None)
        again = finished_run(app)
        assert again is not run and again.state == "done", (again.error, again.failures)
        await pilot.press("escape")
        await settle(pilot)
        assert app.store.view == []
    assert client.get_object(Bucket=bucket, Key=record.dst_key)["Body"].read() == data
    assert remaining(client, bucket) == set()
    assert journal.records() == []
