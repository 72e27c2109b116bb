"""The TUI abort flow end to end on both server tiers (moto and Ceph RGW 16.2): keyboard marks, the
confirmation, the aborts, and what the server has left afterwards — checked through boto3, not the app.

RGW answers sequential requests with ~40 ms stalls: every wait here has a generous timeout.
"""

from __future__ import annotations

from typing import Any

from conftest import make_upload, remaining, settle
from mputui.formatting import format_size
from mputui.tui.app import MputuiApp
from mputui.tui.screens.confirm import ConfirmAbort, TargetList
from mputui.tui.widgets.abort_panel import AbortPanel

SIZE = (160, 45)
PART = 1024
WAIT = 180.0
"""Seconds to wait for the app to settle: scans and aborts on RGW are slow on a loaded 2-core machine."""

# (key, parts): several keys, one key with two uploads, some with parts, some without.
SEED = [
    ("logs/2025/a.bin", 2),
    ("logs/2025/b.bin", 0),
    ("dup/same.bin", 1),
    ("dup/same.bin", 3),
    ("tmp/c.bin", 1),
    ("tmp/d.bin", 2),
    ("keep/e.bin", 0),
    ("keep/f.bin", 4),
]

Ident = tuple[str, str, str]


def seed(server: Any, bucket: str) -> dict[Ident, int]:
    """Create the SEED uploads in ``bucket``; returns ident → size in bytes."""
    client = server.client()
    made: dict[Ident, int] = {}
    for key, parts in SEED:
        upload_id = make_upload(client, bucket, key, parts=parts, part_size=PART)
        made[(bucket, key, upload_id)] = parts * PART
    assert remaining(client, bucket) == {(k, u) for _, k, u in made}
    return made


def shown(app: MputuiApp) -> set[Ident]:
    return {r.ident for r in app.store.view}


def plain(app: MputuiApp, selector: str) -> str:
    """The plain text of a Static on the top screen (the dialog's, while one is open)."""
    content = app.screen.query_one(selector).content  # type: ignore[attr-defined]
    return str(getattr(content, "plain", content))


def status_line(app: MputuiApp) -> str:
    return app.main_screen.query_one("#status").text.plain  # type: ignore[attr-defined]


async def mark_subset(pilot: Any, app: MputuiApp, made: dict[Ident, int]) -> tuple[set[Ident], Ident]:
    """Mark tmp/* (filter + mark all), logs/a (key + size filter), and the first of the two dup uploads.

    Leaves the ``dup`` filter on, so three of the four marks are hidden when the dialog opens.
    Returns (marked idents, the dup upload left unmarked).
    """
    await pilot.press("K", "home")
    assert [r.key for r in app.store.view] == sorted(k for _, k, _ in made)
    await pilot.press("slash", *"tmp/", "enter")
    assert {k for _, k, _ in shown(app)} == {"tmp/c.bin", "tmp/d.bin"}
    await pilot.press("a", "escape")
    assert len(shown(app)) == len(made) and app.store.marked_count == 2
    await pilot.press("z", *"2KiB", "enter")
    await pilot.press("slash", *"logs", "enter")
    assert {k for _, k, _ in shown(app)} == {"logs/2025/a.bin"}  # b.bin has no parts: filtered out by size
    await pilot.press("space", "escape")
    await pilot.press("slash", *"dup", "enter")
    dups = [r.ident for r in app.store.view]
    assert len(dups) == 2 and {k for _, k, _ in dups} == {"dup/same.bin"}
    await pilot.press("home")
    first = app.uploads.current
    assert first is not None
    await pilot.press("space")
    marked = {r.ident for r in app.store.marked_rows()}
    expected = {i for i in made if i[1] in ("tmp/c.bin", "tmp/d.bin", "logs/2025/a.bin")} | {first.ident}
    assert marked == expected
    (other,) = set(dups) - {first.ident}
    return marked, other


async def test_abort_marked_uploads_on_both_servers(s3_server: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    made = seed(s3_server, bucket)
    client = s3_server.client()
    app = MputuiApp(s3_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, WAIT)
        assert shown(app) == set(made)
        marked, other_dup = await mark_subset(pilot, app, made)
        marked_bytes = sum(made[i] for i in marked)
        assert "4 marked · " + format_size(marked_bytes) + " (3 not shown)" in status_line(app)

        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, ConfirmAbort)
        assert {r.ident for r in dialog.rows} == marked
        assert {r.ident for r in dialog.query_one(TargetList).rows} == marked
        assert plain(app, "#confirm-title") == f"Abort 4 multipart uploads, {format_size(marked_bytes)}?"
        facts = plain(app, "#confirm-facts")
        assert f"4 uploads · {format_size(marked_bytes)} of parts will be deleted" in facts
        assert f"Bucket: {bucket} (4)" in facts
        assert "3 marked uploads hidden by the current filter" in plain(app, "#confirm-hidden")
        # Every part was sent seconds ago: the dialog says so, and only A aborts them.
        assert "4 of them received a part in the last hour" in plain(app, "#confirm-active")

        await pilot.press("A")
        assert not isinstance(app.screen, ConfirmAbort)
        await settle(pilot, WAIT)
        panel = app.query_one(AbortPanel)
        assert (panel.total, panel.done, panel.failed, panel.gone) == (4, 4, 0, 0)
        assert panel.freed == marked_bytes
        assert app.store.marked_count == 0
        assert not app.query_one("#error").has_class("-visible")
        # The dup filter is still on: the marked dup upload is gone from the table, its twin is not.
        assert shown(app) == {other_dup}
        await pilot.press("escape")
        assert shown(app) == set(made) - marked
        assert (
            f"last abort: 4/4 done · 4 aborted (verified) · {format_size(marked_bytes)} freed"
            in status_line(app)
        )

    # On the server: exactly the marked uploads are gone (by key AND upload id), every other one remains.
    assert remaining(client, bucket) == {(k, u) for b, k, u in made if (b, k, u) not in marked}


async def test_abort_race_reports_already_gone_on_both_servers(
    s3_server: Any, s3_bucket_factory: Any
) -> None:
    """After marking, before ``y``: one marked upload is aborted and another completed by someone else."""
    bucket = s3_bucket_factory()
    made = seed(s3_server, bucket)
    client = s3_server.client()
    by_key = {k: (b, k, u) for b, k, u in made if k != "dup/same.bin"}
    app = MputuiApp(s3_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, WAIT)
        await pilot.press("slash", *"tmp/", "enter", "a", "escape")
        await pilot.press("slash", *"logs/", "enter", "a", "escape")
        marked = {r.ident for r in app.store.marked_rows()}
        assert marked == {by_key[k] for k in ("tmp/c.bin", "tmp/d.bin", "logs/2025/a.bin", "logs/2025/b.bin")}
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmAbort)
        assert {r.ident for r in app.screen.rows} == marked

        # Behind the app's back, while the dialog is open: an abort and a commit of two marked uploads.
        _, key, upload_id = by_key["logs/2025/b.bin"]
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        _, key, upload_id = by_key["tmp/c.bin"]
        etag = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"][0]["ETag"]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )

        await pilot.press("A")
        await settle(pilot, WAIT)
        panel = app.query_one(AbortPanel)
        assert (panel.total, panel.done, panel.failed, panel.gone) == (4, 4, 0, 2)
        assert panel.freed == made[by_key["tmp/d.bin"]] + made[by_key["logs/2025/a.bin"]]
        assert "4/4 done · 2 aborted" in panel.summary() and "2 already gone · 0 failed" in panel.summary()
        assert "2 already gone" in status_line(app)
        assert not app.query_one("#error").has_class("-visible")
        assert app.store.marked_count == 0
        assert all(r.note is None for r in app.store.view)
        assert shown(app) == set(made) - marked

    assert remaining(client, bucket) == {(k, u) for b, k, u in made if (b, k, u) not in marked}
    # The commit made behind our back is intact: "already gone" did not touch the object.
    assert client.head_object(Bucket=bucket, Key="tmp/c.bin")["ContentLength"] == PART


async def test_abort_that_raced_a_commit_is_reported_on_both_servers(
    s3_server: Any, s3_bucket_factory: Any
) -> None:
    """A commit of the same key landing as the abort is accepted (Ceph RGW can accept both and later lose
    the object): the abort still counts, and the operator is told which object to check."""
    bucket = s3_bucket_factory()
    client = s3_server.client()
    key = "race/k.bin"
    committed = make_upload(client, bucket, key, parts=1, part_size=PART)
    target = make_upload(client, bucket, key, parts=1, part_size=PART)
    app = MputuiApp(s3_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, WAIT)
        row = next(r for r in app.store.view if r.upload.upload_id == target)
        app.uploads.move_cursor(app.store.view.index(row))
        await pilot.press("space", "d")
        assert isinstance(app.screen, ConfirmAbort)
        assert [r.ident for r in app.screen.rows] == [(bucket, key, target)]
        etag = client.list_parts(Bucket=bucket, Key=key, UploadId=committed)["Parts"][0]["ETag"]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=committed,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        await pilot.press("A")
        await settle(pilot, WAIT)
        panel = app.query_one(AbortPanel)
        assert (panel.done, panel.failed, panel.gone, panel.raced) == (1, 0, 0, 1)
        assert "1 raced a commit: check the object" in panel.summary()
        warnings = [n for n in app._notifications if n.title == "A commit raced the abort"]
        assert len(warnings) == 1 and f"s3://{bucket}/{key}" in warnings[0].message
        assert "the server accepted both" in warnings[0].message

    assert remaining(client, bucket) == set()
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == PART
