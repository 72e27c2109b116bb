"""Regenerate screenshots/*.svg from the embedded demo, with a frozen clock (same pictures every run).

    python scripts/screenshots.py [--out screenshots]

Main screen, confirm dialog, help, abort progress, a filtered view, the commit and copy dialogs, a copy plan
awaiting confirmation and the jobs view, 160x45. Run it from the repository root with ``PYTHONPATH=.`` when
another checkout of mputui is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.content import Content

from mputui.demo import start_demo
from mputui.tui.app import MputuiApp
from mputui.tui.widgets.abort_panel import AbortPanel

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SIZE = (160, 45)


class DemoApp(MputuiApp):
    """The app with the demo's random port hidden from the title."""

    def _title_text(self) -> Content:
        return Content(
            str(super()._title_text().plain).replace(self.settings.endpoint_url or "", "http://demo")
        )


async def settle(pilot: Any, timeout: float = 120.0) -> None:
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await pilot.pause(0.1)
        if app.busy:
            continue
        await pilot.pause(0.3)
        return
    raise RuntimeError("the demo scan did not finish in time")


async def main_screen(pilot: Any) -> None:
    await settle(pilot)


async def confirm_dialog(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("space", "space", "space", "down", "space")
    await pilot.press("slash", *"auth", "enter")
    await pilot.press("d")
    await pilot.pause(0.3)


async def help_screen(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.3)


async def filtered(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("slash", *"uploads/", "enter", "S")
    await pilot.pause(0.5)


async def abort_progress(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press(*["space"] * 6)
    # A picture of a run in flight: the real aborts on the demo finish faster than a screenshot.
    panel = pilot.app.query_one(AbortPanel)
    panel.start(6, pilot.app.store.marked_bytes)
    panel.record(aborted=2, freed=403 * 1024)
    panel.record(gone=1)
    panel.record(failed=1)
    await pilot.pause(0.3)


async def commit_dialog(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("c")
    for _ in range(100):
        await pilot.pause(0.1)
        if getattr(pilot.app.screen, "plan", None) is not None:
            break
    await pilot.pause(0.3)


async def copy_dialog(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("C", *"s3://acme-archive/restored/")
    await pilot.pause(0.3)


async def copy_plan(pilot: Any) -> None:
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
    for _ in range(100):
        await pilot.pause(0.1)
        if not getattr(screen, "planning", False):
            break
    await pilot.pause(0.3)


async def jobs_view(pilot: Any) -> None:
    from mputui.tui.staged_jobs import staged_job_runs

    await settle(pilot)
    pilot.app.jobs.runs = staged_job_runs()
    await pilot.press("J")
    await pilot.pause(0.3)


SHOTS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "main": main_screen,
    "confirm": confirm_dialog,
    "help": help_screen,
    "filter": filtered,
    "progress": abort_progress,
    "commit": commit_dialog,
    "copy": copy_dialog,
    "copy-plan": copy_plan,
    "jobs": jobs_view,
}


async def shoot(settings: Any, out: Path) -> None:
    for name, scene in SHOTS.items():
        app = DemoApp(settings, clock=lambda: NOW, title_suffix="demo")
        async with app.run_test(size=SIZE) as pilot:
            await scene(pilot)
            app.save_screenshot(filename=f"{name}.svg", path=str(out))
        print(f"wrote {out / (name + '.svg')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    demo = start_demo(now=NOW)
    try:
        asyncio.run(shoot(demo.settings(concurrency=8), args.out))
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
