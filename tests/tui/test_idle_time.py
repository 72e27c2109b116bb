"""Idle time for abort decisions: the minimum-age filter and the abort confirmation, on the demo endpoint.

The demo is seeded at a frozen time and the app's clock is frozen there too, so which uploads received a part
in the last hour is decided by the seeded timestamps alone. Among them are uploads initiated weeks ago whose
newest part is minutes old: the case where the initiation date says "stale" and the parts say "being written".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import FROZEN_NOW, frozen_clock, settle
from mputui.s3.connect import S3Connection
from mputui.s3.inventory import InventoryScan
from mputui.s3.models import UploadFound
from mputui.tui.app import MputuiApp
from mputui.tui.screens.confirm import ConfirmAbort, TargetList
from mputui.tui.widgets.abort_panel import AbortPanel

SIZE = (160, 45)
HOUR_AGO = FROZEN_NOW - timedelta(hours=1)


def demo_app(demo: Any) -> MputuiApp:
    return MputuiApp(demo.settings(concurrency=8), clock=frozen_clock)


def idents(rows: Any) -> set[tuple[str, str, str]]:
    return {r.ident for r in rows}


def server_uploads(demo: Any) -> dict[tuple[str, str, str], Any]:
    scan = InventoryScan(S3Connection(demo.settings()))
    return {e.upload.ident: e.upload for e in scan.events() if isinstance(e, UploadFound)}


def notifications(app: MputuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_min_age_filter_is_idle_time(demo: Any) -> None:
    uploads = server_uploads(demo)
    week_ago = FROZEN_NOW - timedelta(days=7)
    old_but_busy = {i for i, u in uploads.items() if u.initiated <= week_ago < u.last_activity}
    assert len(old_but_busy) >= 2  # initiated weeks ago, a part minutes ago
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o", *"7d", "enter")
        await settle(pilot)
        assert idents(app.store.view) == {i for i, u in uploads.items() if u.last_activity <= week_ago}
        assert not old_but_busy & idents(app.store.view)
        assert "idle ≥ 7d" in str(app.query_one("#status").render())


async def test_a_value_that_does_not_parse_is_refused_and_the_filter_kept(demo: Any) -> None:
    uploads = server_uploads(demo)

    def idle_for(days: int) -> set[tuple[str, str, str]]:
        return {i for i, u in uploads.items() if u.last_activity <= FROZEN_NOW - timedelta(days=days)}

    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        age = app.query_one("#age-filter")
        await pilot.press("o", *"7d", "enter")
        await settle(pilot)
        assert idents(app.store.view) == idle_for(7)

        await pilot.press("o", "end", "3")  # "7d3": its "7d" is not kept as if it were the value
        await settle(pilot)
        assert age.value == "7d3" and age.has_class("-invalid")
        assert app.store.min_age == timedelta(days=7) and idents(app.store.view) == idle_for(7)
        await pilot.press("enter")  # refused visibly: a notification, and the input keeps the focus
        assert app.focused is age
        assert any("bad duration '7d3'" in m and "stays ≥ 7d" in m for m in notifications(app))

        # Each printed unit is accepted: 6mo is six months (30 days each), not six minutes and an "o".
        await pilot.press("backspace", "backspace", "backspace", *"6mo", "enter")
        await settle(pilot)
        assert app.focused is app.uploads and not age.has_class("-invalid")
        assert app.store.min_age == timedelta(days=180) and idents(app.store.view) == idle_for(180)

        # Leaving a bad value by moving the focus elsewhere: refused, and the input shows what applies.
        await pilot.press("o", *"1yr")  # the focused input's text is selected: typing replaces it
        app.uploads.focus()
        await settle(pilot)
        assert age.value == "6mo" and not age.has_class("-invalid")
        assert app.store.min_age == timedelta(days=180)
        assert any("bad duration '1yr'" in m for m in notifications(app))


async def test_abort_asks_separately_for_uploads_active_in_the_last_hour(demo: Any) -> None:
    """This test aborts uploads on the module's demo endpoint: it runs last in this module."""
    uploads = server_uploads(demo)
    active = {i for i, u in uploads.items() if u.last_activity > HOUR_AGO}
    assert 0 < len(active) < len(uploads)
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Only the highlighted upload, and it is active: y does not abort it, only A would.
        row = next(r for r in app.store.view if r.ident in active)
        app.uploads.move_cursor(app.store.view.index(row))
        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmAbort)
        assert str(dialog.query_one("#confirm-active").render()) == (
            "● It received a part in the last hour: still being written? Aborted only if you choose it (A)."
        )
        assert str(dialog.query_one("#confirm-help").render()) == "A: abort it anyway · any other key: cancel"
        assert not dialog.query("#yes") and dialog.query_one("#all").label.plain == "Abort all 1"
        await pilot.press("y")
        assert not isinstance(app.screen, ConfirmAbort)
        await settle(pilot)
        assert row.ident in server_uploads(demo)

        # Everything marked: the dialog counts the active ones, flags them, and y aborts only the others.
        await pilot.press("a", "d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmAbort)
        total, idle = len(uploads), len(uploads) - len(active)
        assert idents(dialog.active) == active
        assert idents(dialog.query_one(TargetList).active) == active
        assert str(dialog.query_one("#confirm-active").render()).startswith(
            f"● {len(active)} of them received a part in the last hour"
        )
        assert str(dialog.query_one("#confirm-help").render()) == (
            f"y: abort the {idle} idle ones only · A: abort all {total} · any other key: cancel"
        )
        assert dialog.query_one("#yes").label.plain == f"Abort {idle} idle"
        await pilot.press("y")
        await settle(pilot, 120)
        panel = app.query_one(AbortPanel)
        assert (panel.total, panel.done, panel.failed) == (idle, idle, 0)
        assert idents(app.store.view) == active
    assert set(server_uploads(demo)) == active
