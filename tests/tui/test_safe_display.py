"""The TUI shows no URL's ``user:password@``, and makes a key's edge spaces and variation selectors visible."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len

from conftest import make_upload, settle
from mputui.s3.connect import ConnectionSettings
from mputui.tui.app import MputuiApp
from mputui.tui.widgets.upload_table import UploadTable

SIZE = (160, 40)


def screen_text(app: MputuiApp) -> list[str]:
    return ["".join(s.text for s in strip) for strip in app.screen._compositor.render_strips()]


async def test_title_and_errors_hide_the_password_of_the_endpoint_url(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    settings = ConnectionSettings(
        endpoint_url="http://user:PASS@127.0.0.1:9", max_attempts=1, connect_timeout=1
    )
    app = MputuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        lines = screen_text(app)
        error = str(app.query_one("#error").render())
    screen = "\n".join(lines)
    assert "PASS" not in screen
    assert lines[0].strip() == "mputui · http://***@127.0.0.1:9", lines[0]
    assert "connection refused by http://***@127.0.0.1:9" in error, error
    assert "PASS" not in error


KEYS = {
    "   ": "␠␠␠",
    "tail  ": "tail␠␠",
    " lead": "␠lead",
    "heart/❤\ufe0f": "heart/❤⟨U+FE0F⟩",
    "in side": "in side",
}


async def test_edge_spaces_and_variation_selectors_in_the_table_and_the_confirmation(
    moto_server: Any, bucket_factory: Any
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    for key in KEYS:
        make_upload(client, bucket, key)
    app = MputuiApp(moto_server.settings(max_attempts=1), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(UploadTable)
        width = table.scrollable_content_region.width
        rows = ["".join(s.text for s in table.render_line(y)) for y in range(1 + len(KEYS))][1:]
        await pilot.press("a", "d")
        await pilot.pause(0.2)
        dialog = screen_text(app)
        app.screen.dismiss(False)
        await pilot.pause()
    for where, lines in (("table", rows), ("confirmation", dialog)):
        text = "\n".join(lines)
        assert "\ufe0f" not in text, where
        for shown in KEYS.values():
            assert f" {shown} " in text, (where, shown, text)
    for row in rows:
        # Every row is exactly as wide as the table, measured the same way in every terminal.
        assert cell_len(row) == width, row
