"""SVG snapshots of the main screen, the confirm dialog, help, an error and the abort progress.

Demo data seeded at a frozen time, and the app's clock frozen at that same time: ages never drift.
Update the baselines with ``pytest tests/tui --snapshot-update`` and look at them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.content import Content

from conftest import FROZEN_NOW, frozen_clock, settle
from mputui.s3.connect import ConnectionSettings
from mputui.tui.app import MputuiApp
from mputui.tui.widgets.abort_panel import AbortPanel

SIZE = (160, 45)


class SnapshotApp(MputuiApp):
    """The app with the demo's random port hidden from the title, so pictures compare across runs."""

    def _title_text(self) -> Content:
        return Content(
            str(super()._title_text().plain).replace(self.settings.endpoint_url or "", "http://demo")
        )


async def wait_for_plan(pilot: Any) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if getattr(pilot.app.screen, "plan", None) is not None:
            break
    await pilot.pause(0.2)


def stage_jobs(app: MputuiApp) -> None:
    """Jobs frozen mid-run (staged values: a real copy on the demo finishes before the picture is taken)."""
    from mputui.tui.staged_jobs import staged_job_runs

    app.jobs.runs = staged_job_runs()


def demo_app(demo: Any, **kwargs: Any) -> MputuiApp:
    return SnapshotApp(demo.settings(concurrency=8), clock=frozen_clock, title_suffix="demo", **kwargs)


def test_main_screen(snap_compare: Any, demo: Any) -> None:
    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=settle)


def test_confirm_dialog(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("space", "space", "space", "down", "space")
        await pilot.press("slash", *"auth", "enter")  # hides some of the marked uploads
        await pilot.press("d")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_confirm_dialog_with_active_uploads(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        # Old uploads among them received a part minutes ago: counted, flagged, and aborted only with A.
        await pilot.press("slash", *"raw/events/", "enter", "a", "d")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_error_state(snap_compare: Any) -> None:
    settings = ConnectionSettings(
        endpoint_url="http://127.0.0.1:9",
        max_attempts=1,
        connect_timeout=1,
        demo_credentials=("key", "secret"),
    )
    app = MputuiApp(settings, clock=frozen_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_abort_progress(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press(*["space"] * 6)
        # Freeze the panel mid-run: a real abort would finish before the picture is taken.
        panel = pilot.app.query_one(AbortPanel)
        panel.start(6, pilot.app.store.marked_bytes)
        panel.record(aborted=2, freed=403 * 1024)
        panel.record(gone=1)
        panel.record(failed=1)
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo, read_only=False), terminal_size=SIZE, run_before=run_before)


def test_read_only_main_screen(snap_compare: Any, demo: Any) -> None:
    assert snap_compare(demo_app(demo, read_only=True), terminal_size=SIZE, run_before=settle)


def test_commit_dialog(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("c")
        await wait_for_plan(pilot)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_commit_dialog_existing_object(snap_compare: Any, demo: Any) -> None:
    """An object exists at the upload's key: named with its size and date, an overwrite box, Commit disabled."""
    from mputui.demo.account import naive_utc
    from mputui.demo.moto_backend import demo_backend

    bucket, key = "acme-app-logs", "auth/2024/05/05/ip-10-0-3-185-10.log.gz"
    obj = demo_backend().put_object(bucket, key, b"x" * 2048)
    obj.last_modified = naive_utc(FROZEN_NOW - timedelta(days=3))

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("c")
        await wait_for_plan(pilot)

    try:
        assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)
    finally:
        demo_backend().delete_object(bucket, key)


def test_copy_dialog(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("C")
        await pilot.press(*"s3://acme-archive/restored/")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_copy_plan(snap_compare: Any, demo: Any) -> None:
    """The plan the copy dialog shows before anything is written: one object REPLACED, its exact target."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("C")
        screen = pilot.app.screen
        screen.query_one(
            "#copy-src"
        ).value = "s3://acme-prod-backups/postgres/orders-primary/2025-05-31/base.tar.zst"
        screen.query_one(
            "#copy-dst"
        ).value = "s3://acme-prod-backups/postgres/orders-primary/2025-05-30/base.tar.zst"
        await pilot.click("#copy-yes")
        for _ in range(200):
            await pilot.pause(0.05)
            if not screen.planning:
                break
        await pilot.pause(0.2)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)


def test_jobs_view(snap_compare: Any, demo: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        stage_jobs(pilot.app)
        await pilot.press("J")
        await pilot.pause(0.3)

    assert snap_compare(demo_app(demo), terminal_size=SIZE, run_before=run_before)
