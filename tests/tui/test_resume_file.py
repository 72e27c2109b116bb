"""Resume an upload from its local file in the TUI (F), against a moto server: plan, confirm, run as a job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_jobs import wait_for

from conftest import remaining, settle
from mputui.jobs.events import PartSent
from mputui.jobs.journal import Journal
from mputui.jobs.resume import Resumer
from mputui.tui.app import MputuiApp
from mputui.tui.screens.jobs import JobsScreen
from mputui.tui.screens.resume_file import ResumeFileDialog

SIZE = (160, 45)
MIB = 1024 * 1024
BODY = bytes(range(256)) * (12 * MIB // 256)  # 12 MiB: parts of 5 + 5 + 2 MiB


@pytest.fixture
def half_done(moto_server: Any, bucket_factory: Any, tmp_path: Path) -> tuple[Any, str, str, Path]:
    """An upload of big.bin with part 1 (5 MiB) uploaded from the 12 MiB local file."""
    client = moto_server.client()
    bucket = bucket_factory()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    client.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload_id, PartNumber=1, Body=BODY[: 5 * MIB])
    path = tmp_path / "big.bin"
    path.write_bytes(BODY)
    return client, bucket, upload_id, path


async def plan_from(pilot: Any, path: Path) -> ResumeFileDialog:
    await pilot.press("F")
    dialog = pilot.app.screen
    assert isinstance(dialog, ResumeFileDialog)
    dialog.query_one("#resume-path").value = str(path)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not dialog.planning and dialog.plan is not None)
    return dialog


async def test_resume_from_file_completes_the_object(
    moto_server: Any, half_done: tuple[Any, str, str, Path], tmp_path: Path
) -> None:
    client, bucket, _upload_id, path = half_done
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=Journal(tmp_path / "jobs"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await plan_from(pilot, path)
        assert dialog.plan is not None and dialog.plan.ok, dialog.plan
        assert dialog.plan.present == (1,) and dialog.plan.send == (2, 3)
        text = str(dialog.query_one("#resume-plan").render())
        assert "to send:   2 part(s)" in text and f"{7 * MIB:,} bytes" in text
        assert not dialog.query_one("#resume-yes").disabled
        await pilot.press("y")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ResumeFileDialog)
        (run,) = app.jobs.runs.values()
        assert run.kind == "file"
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "done", (run.error, run.failures)
        assert run.totals()[:4] == (len(BODY), len(BODY), 3, 3)
        await pilot.press("escape")
        await settle(pilot)
        assert app.store.view == []  # the object exists now: the upload left the table
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == BODY
    assert remaining(client, bucket) == set()


async def test_resume_from_wrong_file_is_refused(
    moto_server: Any, half_done: tuple[Any, str, str, Path], tmp_path: Path
) -> None:
    client, bucket, upload_id, _path = half_done
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"\x01" * len(BODY))
    app = MputuiApp(moto_server.settings(), bucket=bucket, journal=Journal(tmp_path / "jobs"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dialog = await plan_from(pilot, wrong)
        assert dialog.plan is not None and not dialog.plan.ok
        problems = str(dialog.query_one("#resume-problems").render())
        assert "do not match" in problems
        assert dialog.query_one("#resume-yes").disabled
        await pilot.click("#resume-yes")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ResumeFileDialog)
        assert app.jobs.runs == {}
        assert [r.upload.upload_id for r in app.store.view] == [upload_id]
    parts = client.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    assert remaining(client, bucket) == {("big.bin", upload_id)}


async def test_resume_from_file_hidden_under_read_only(
    moto_server: Any, half_done: tuple[Any, str, str, Path]
) -> None:
    _client, bucket, _upload_id, _path = half_done
    app = MputuiApp(moto_server.settings(), bucket=bucket, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("F")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ResumeFileDialog)


async def test_resume_from_file_cancel_with_x_then_resume_again(
    moto_server: Any, half_done: tuple[Any, str, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, bucket, upload_id, path = half_done
    real_emit = Resumer.emit
    held: list[Resumer] = []

    def slow_emit(self: Resumer, event: Any) -> None:
        real_emit(self, event)
        if isinstance(event, PartSent) and not held:
            # One part at a time; the first run holds after its first part until the user cancels it (x).
            held.append(self)
            deadline = time.monotonic() + 30
            while not self.cancel_token.cancelled and time.monotonic() < deadline:
                time.sleep(0.02)

    monkeypatch.setattr(Resumer, "emit", slow_emit)
    app = MputuiApp(moto_server.settings(concurrency=1), bucket=bucket, journal=Journal(tmp_path / "jobs"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await plan_from(pilot, path)
        await pilot.press("y", "J")
        (run,) = app.jobs.runs.values()
        await wait_for(pilot, lambda: bool(held))
        await pilot.press("x")
        await wait_for(pilot, lambda: not run.active)
        assert run.state == "cancelled"
        await pilot.press("escape")
        await settle(pilot)
        assert [r.upload.upload_id for r in app.store.view] == [upload_id]  # still there: not completed
        dialog = await plan_from(pilot, path)
        assert dialog.plan is not None and dialog.plan.present == (1, 2) and dialog.plan.send == (3,)
        await pilot.press("y")
        again = max(app.jobs.runs.values(), key=lambda r: r.run_id)
        await wait_for(pilot, lambda: not again.active)
        assert again.state == "done", (again.error, again.failures)
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == BODY
