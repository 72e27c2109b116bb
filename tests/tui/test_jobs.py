"""Copy jobs from the TUI against a moto server: copy, cancel, resume; jobs labelled in the uploads table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import settle
from mputui.jobs.copy import Copier
from mputui.jobs.events import JobProgress
from mputui.jobs.journal import Journal
from mputui.tui.app import MputuiApp
from mputui.tui.screens.copy import CopyDialog
from mputui.tui.screens.jobs import JobsScreen

SIZE = (160, 45)
MIB = 1024 * 1024
BODY = bytes(range(256)) * (12 * MIB // 256) + b"tail"  # three 5 MiB parts (the last one short)


async def wait_for(pilot: Any, condition: Callable[[], object], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


@pytest.fixture
def source(moto_server: Any, bucket_factory: Any) -> tuple[Any, str]:
    client = moto_server.client()
    bucket = bucket_factory()
    client.put_object(Bucket=bucket, Key="src/big.bin", Body=BODY)
    return client, bucket


async def plan_copy(pilot: Any, src: str, dst: str) -> CopyDialog:
    """Fill the copy dialog and ask for the plan; returns the dialog once the plan is shown."""
    dialog = pilot.app.screen
    assert isinstance(dialog, CopyDialog)
    dialog.query_one("#copy-src").value = src
    dialog.query_one("#copy-dst").value = dst
    dialog.query_one("#copy-part-size").value = "5MiB"
    await pilot.click("#copy-yes")
    await wait_for(pilot, lambda: not dialog.planning)
    assert dialog.planned is not None, str(dialog.query_one("#copy-error").render())
    assert isinstance(pilot.app.screen, CopyDialog)
    return dialog


def plan_text(dialog: CopyDialog) -> str:
    return str(dialog.query_one("#copy-plan").render())


async def fill_copy_dialog(pilot: Any, src: str, dst: str) -> None:
    await plan_copy(pilot, src, dst)
    await pilot.press("y")
    await pilot.pause(0.1)
    assert not isinstance(pilot.app.screen, CopyDialog)


async def test_copy_multipart_object(moto_server: Any, source: tuple[Any, str], tmp_path: Path) -> None:
    client, bucket = source
    journal = Journal(tmp_path / "jobs")
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await fill_copy_dialog(pilot, f"s3://{bucket}/src/big.bin", f"s3://{bucket}/dst/copy.bin")
        (run,) = app.jobs.runs.values()
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "done", (run.error, run.failures)
        done, total, parts_done, parts_total, *_ = run.totals()
        assert (done, total, parts_done, parts_total) == (len(BODY), len(BODY), 3, 3)
    got = client.get_object(Bucket=bucket, Key="dst/copy.bin")["Body"].read()
    assert got == BODY
    assert journal.records() == []


async def test_cancel_then_resume_from_jobs_screen(
    moto_server: Any, source: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket = source
    journal = Journal(tmp_path / "jobs")
    real_emit = Copier.emit
    held: list[Copier] = []

    def slow_emit(self: Copier, event: Any) -> None:
        real_emit(self, event)
        if isinstance(event, JobProgress) and event.parts_done >= 1 and not held:
            # One part at a time (concurrency 1), and the first copy holds once the screen can show its first
            # part done (the progress event the test waits for) until the user cancels it (x): the cancel
            # lands mid-job however slow or fast the machine is.
            held.append(self)
            deadline = time.monotonic() + 30
            while not self.cancel_token.cancelled and time.monotonic() < deadline:
                time.sleep(0.02)

    monkeypatch.setattr(Copier, "emit", slow_emit)
    app = MputuiApp(moto_server.settings(concurrency=1), bucket=bucket, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await fill_copy_dialog(pilot, f"s3://{bucket}/src/big.bin", f"s3://{bucket}/dst/resumed.bin")
        (run,) = app.jobs.runs.values()
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)
        await wait_for(pilot, lambda: run.progress and run.totals()[2] >= 1)
        await pilot.press("x")
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "cancelled"
        assert run.resumable
        (record,) = journal.records()
        assert len(record.done) in (1, 2)
        # The unfinished upload is journaled: after a rescan it is labelled as a job in the uploads table.
        await pilot.press("escape", "r")
        await settle(pilot)
        row = app.store.view[0]
        assert row.ident in app.uploads.jobs
        await pilot.press("J", "R")
        await wait_for(
            pilot, lambda: any(r.kind == "resume" and not r.active for r in app.jobs.runs.values())
        )
        resumed = next(r for r in app.jobs.runs.values() if r.kind == "resume")
        assert resumed.state == "done", (resumed.error, resumed.failures)
        await pilot.press("escape")
        await settle(pilot)
        assert app.store.view == []  # the job's upload was completed: it left the table
    got = client.get_object(Bucket=bucket, Key="dst/resumed.bin")["Body"].read()
    assert got == BODY
    assert journal.records() == []


async def test_copy_onto_existing_object_states_replace_and_cancel_writes_nothing(
    moto_server: Any, source: tuple[Any, str], tmp_path: Path
) -> None:
    client, bucket = source
    client.put_object(Bucket=bucket, Key="dst/existing.bin", Body=b"old content")
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=Journal(tmp_path / "jobs"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("C")
        dialog = await plan_copy(pilot, f"s3://{bucket}/src/big.bin", f"s3://{bucket}/dst/existing.bin")
        text = plan_text(dialog)
        assert "copy 1 object(s), 12.0 MiB" in text or "copy 1 object(s)" in text, text
        assert f"{len(BODY):,} bytes" in text
        assert "1 existing object(s) will be REPLACED" in text
        assert f"s3://{bucket}/dst/existing.bin" in text
        assert "and replace" in str(dialog.query_one("#copy-yes").label)
        await pilot.press("n")  # anything but y cancels
        await pilot.pause(0.1)
        assert not isinstance(app.screen, CopyDialog)
        assert app.jobs.runs == {}
    assert client.get_object(Bucket=bucket, Key="dst/existing.bin")["Body"].read() == b"old content"


async def test_copy_confirmed_with_y_replaces_the_object(
    moto_server: Any, source: tuple[Any, str], tmp_path: Path
) -> None:
    client, bucket = source
    client.put_object(Bucket=bucket, Key="dst/existing.bin", Body=b"old content")
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=Journal(tmp_path / "jobs"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await plan_copy(pilot, f"s3://{bucket}/src/big.bin", f"s3://{bucket}/dst/existing.bin")
        await pilot.press("y")
        await pilot.pause(0.1)
        (run,) = app.jobs.runs.values()
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "done", (run.error, run.failures)
    assert client.get_object(Bucket=bucket, Key="dst/existing.bin")["Body"].read() == BODY
