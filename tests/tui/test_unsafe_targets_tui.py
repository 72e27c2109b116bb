"""The TUI's abort of a listing with an empty key (see tests/test_unsafe_targets.py): refused, never sent."""

from __future__ import annotations

from typing import Any

from hostile_listing import VICTIM, bucket_wide_deletes, empty_key_proxy

from conftest import make_upload, remaining, settle
from mputui.tui.app import MputuiApp
from mputui.tui.screens.confirm import ConfirmAbort
from mputui.tui.widgets.abort_panel import AbortPanel


async def test_tui_abort_refuses_an_empty_key_and_never_deletes_the_bucket(
    s3_server: Any, s3_bucket_factory: Any
) -> None:
    bucket = s3_bucket_factory()
    client = s3_server.client()
    victim_id = make_upload(client, bucket, VICTIM, parts=1)
    other_ids = {make_upload(client, bucket, f"other/{i}", parts=1) for i in range(2)}
    proxy = empty_key_proxy(s3_server, bucket)
    try:
        app = MputuiApp(s3_server.settings(endpoint_url=proxy.url), bucket=bucket)
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot, 180)
            assert {r.upload.key for r in app.store.view} == {"", "other/0", "other/1"}
            await pilot.press("a", "d")
            assert isinstance(app.screen, ConfirmAbort)
            assert len(app.screen.rows) == 3
            await pilot.press("A")  # their parts are seconds old: all of them only when asked separately
            await settle(pilot, 180)
            panel = app.query_one(AbortPanel)
            assert (panel.total, panel.done, panel.failed) == (3, 3, 1)
    finally:
        proxy.stop()
    assert bucket_wide_deletes(proxy, bucket) == []
    client.head_bucket(Bucket=bucket)
    assert remaining(client, bucket) == {(VICTIM, victim_id)}
    assert other_ids.isdisjoint({u for _, u in remaining(client, bucket)})
