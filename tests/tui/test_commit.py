"""Commit from the TUI against a moto server: happy path, refused plans, file verification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import settle
from mputui.formatting import part_flag_text
from mputui.s3.models import Part, ProblemCode
from mputui.tui.app import MputuiApp
from mputui.tui.messages import PartsListed
from mputui.tui.screens.commit import CommitDialog
from mputui.tui.widgets.parts_table import PartsTable

SIZE = (160, 45)
MIB = 1024 * 1024


async def wait_for(pilot: Any, condition: Callable[[], object], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def start_upload(client: Any, bucket: str, key: str, parts: dict[int, bytes]) -> str:
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for number, body in parts.items():
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
    return upload_id


async def open_dialog(pilot: Any) -> CommitDialog:
    await settle(pilot)
    await pilot.press("c")
    dialog = pilot.app.screen
    assert isinstance(dialog, CommitDialog)
    await wait_for(pilot, lambda: dialog.plan is not None)
    return dialog


def commit_button(dialog: CommitDialog) -> Any:
    return dialog.query_one("#commit-yes")


async def test_commit_happy_path(moto_server: Any, bucket_factory: Any) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    body = {1: b"a" * (5 * MIB), 2: b"tail bytes"}
    start_upload(client, bucket, "big/object.bin", body)
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        assert dialog.plan is not None and dialog.plan.ok
        assert len(dialog.plan.parts) == 2
        assert dialog.existing is None
        assert not commit_button(dialog).disabled
        await pilot.click("#commit-yes")
        await wait_for(pilot, lambda: dialog.result is not None)
        assert dialog.result is not None
        assert dialog.result.status == "committed" and dialog.result.verified
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CommitDialog)
        assert [r.key for r in app.store.view] == []
    got = client.get_object(Bucket=bucket, Key="big/object.bin")["Body"].read()
    assert got == body[1] + body[2]


async def test_commit_existing_object_is_refused_until_overwrite(
    moto_server: Any, bucket_factory: Any
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    client.put_object(Bucket=bucket, Key="k", Body=b"old")
    start_upload(client, bucket, "k", {1: b"new"})
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        assert dialog.existing is not None
        warning = dialog.query_one("#commit-warning")
        assert warning.has_class("-visible")
        assert str(warning.render()).startswith("⚠ an object exists at this key (3 B, ")
        assert commit_button(dialog).disabled and "replace" not in str(commit_button(dialog).label)
        overwrite = dialog.query_one("#commit-overwrite")
        assert overwrite.has_class("-visible")
        await pilot.click("#commit-yes")  # disabled: nothing happens
        assert dialog.result is None
        overwrite.value = True
        await wait_for(pilot, lambda: not commit_button(dialog).disabled)
        assert "replace" in str(commit_button(dialog).label)
        assert str(warning.render()).endswith("and will be replaced")
        await pilot.click("#commit-yes")
        await wait_for(pilot, lambda: dialog.result is not None)
        assert dialog.result is not None and dialog.result.ok and dialog.result.verified
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


async def test_commit_refused_when_an_object_appears_meanwhile(moto_server: Any, bucket_factory: Any) -> None:
    """The object is written after the dialog planned: the commit's own check refuses it and says so."""
    client = moto_server.client()
    bucket = bucket_factory()
    start_upload(client, bucket, "k", {1: b"new"})
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        assert dialog.existing is None and not commit_button(dialog).disabled
        client.put_object(Bucket=bucket, Key="k", Body=b"other")
        await pilot.click("#commit-yes")
        await wait_for(pilot, lambda: dialog.result is not None)
        assert dialog.result is not None and dialog.result.status == "refused"
        result = str(dialog.query_one("#commit-result").render())
        assert result.startswith("✗ commit refused: an object exists at this key (5 B, ")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"other"


async def test_commit_with_gap_is_refused_until_prefix_chosen(moto_server: Any, bucket_factory: Any) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    upload_id = start_upload(client, bucket, "gappy.bin", {1: b"a" * (5 * MIB), 3: b"c"})
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        assert dialog.plan is not None and not dialog.plan.ok
        assert dialog.plan.has(ProblemCode.GAP)
        problems = str(dialog.query_one("#commit-problems").render())
        # The dialog offers its checkbox, not the CLI's option.
        assert "gap in part numbers: missing 2" in problems and "--contiguous-prefix" not in problems
        assert commit_button(dialog).disabled
        prefix = dialog.query_one("#commit-prefix")
        assert prefix.has_class("-visible")
        await pilot.click("#commit-yes")  # disabled: nothing happens
        assert dialog.result is None
        prefix.value = True
        await wait_for(pilot, lambda: dialog.plan is not None and dialog.plan.ok)
        assert dialog.plan is not None and dialog.plan.ok and dialog.plan.dropped == (3,)
        assert not commit_button(dialog).disabled
        await pilot.press("escape")
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload_id]


async def test_verify_file_mismatch_refuses_commit(
    moto_server: Any, bucket_factory: Any, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    start_upload(client, bucket, "v.bin", {1: b"a" * (5 * MIB), 2: b"end"})
    good = tmp_path / "good.bin"
    good.write_bytes(b"a" * (5 * MIB) + b"end")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"a" * (5 * MIB) + b"END")
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#verify-path").focus()
        await pilot.press(*str(bad))
        assert commit_button(dialog).disabled  # a path that was not verified yet
        await pilot.press("enter")
        await wait_for(pilot, lambda: not dialog.verifying and dialog.verification is not None)
        assert dialog.verification is not None and dialog.verification.mismatching == (2,)
        assert "differ" in str(dialog.query_one("#verify-status").render())
        assert commit_button(dialog).disabled
        # The right file verifies and unlocks the commit.
        dialog.query_one("#verify-path").value = str(good)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not dialog.verifying and dialog.verification is not None)
        assert dialog.verification is not None and dialog.verification.ok
        assert not commit_button(dialog).disabled


@pytest.mark.parametrize("key", ["c", "C", "R"])
async def test_read_only_disables_commit_and_copy(moto_server: Any, bucket_factory: Any, key: str) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    start_upload(client, bucket, "ro.bin", {1: b"x"})
    app = MputuiApp(moto_server.settings(), bucket=bucket, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await pilot.pause(0.1)
        assert app.screen is app.main_screen


async def test_parts_pane_shows_the_plans_verdict(moto_server: Any, bucket_factory: Any) -> None:
    # The pane once had its own rules and said "parts look committable" to 10,001 parts the commit refuses.
    client = moto_server.client()
    bucket = bucket_factory()
    start_upload(client, bucket, "many.bin", {1: b"a" * (5 * MIB), 2: b"tail"})
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        summary = app.main_screen.query_one("#parts-summary")
        await wait_for(pilot, lambda: "committable" in str(summary.render()))
        assert not summary.has_class("-warning")
        row = app.uploads.current
        assert row is not None
        stamp = datetime(2025, 1, 1, tzinfo=UTC)
        many = [Part(n, 5 * MIB, f'"{n:032x}"', stamp) for n in range(1, 10_002)]
        app.post_message(PartsListed(row.upload, many))
        await wait_for(pilot, lambda: "blocks a commit" in str(summary.render()))
        assert str(summary.render()) == "10,001 parts · 48.8 GiB · ⚠ 1 part over 10,000: blocks a commit"
        assert summary.has_class("-warning")
        table = app.main_screen.query_one(PartsTable)
        assert table.plan is not None and table.plan.has(ProblemCode.TOO_MANY_PARTS)
        assert [part_flag_text(f) for f in table.rows[-2:]] == ["", ">10,000"]
