"""Hostile object keys in the TUI: what reaches the screen is inert, one line, the right width, and readable.

The corpus (tests/hostile_keys.py) holds markup, terminal escapes, C0/C1 controls, bidi overrides, zero-width
characters, wide and combining characters and 1,024-byte keys. Each painted line of the uploads table, the
parts pane, the abort confirmation and the whole screen is checked for raw control/bidi/zero-width
characters and for its width in cells, and the key cell must show the key's visible form (``visible``),
whole or cut with "…".

Servers refuse the worst keys (moto: every control character; RGW 16.2: C0 controls except tab/LF/CR, so no
ESC at all), so the whole corpus is also fed through the app's message path with no S3 behind it, exactly as
the scan worker posts rows (as bench/tui_scale.py does). The SVG snapshots use that path too: fixed upload ids
and times, frozen clock.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from hostile_keys import corpus
from rich.cells import cell_len
from stand_ins import raw_unsafe
from textual.strip import Strip

from conftest import FROZEN_NOW, frozen_clock, settle
from mputui.formatting import safe_text as visible
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.models import (
    BucketDone,
    BucketsListed,
    BucketSummary,
    Part,
    ScanFinished,
    ScanTotals,
    Upload,
)
from mputui.tui import status
from mputui.tui.app import MputuiApp
from mputui.tui.messages import PartsListed, ScanEventPosted, UploadsFound
from mputui.tui.screens.confirm import ConfirmAbort, TargetList
from mputui.tui.widgets.parts_table import PartsTable
from mputui.tui.widgets.upload_table import UploadTable
from mputui.tui.widgets.virtual_table import VirtualTable

SIZE = (160, 45)
WAIT = 180.0

# Anything a terminal would interpret, or that reorders or hides text: C0, DEL, C1, zero-width and
# directional marks, line/paragraph separators, bidi embeddings/overrides/isolates, word joiner and
# invisible operators, the Arabic letter mark, BOM.

NASTIEST = [
    "[b]bold[/b]",
    "[link=http://evil.example]click me[/link]",
    "[@click=app.quit]quit[/]",
    "[/]",
    "\x1b[2Jclear-screen",
    "\x1b]8;;http://evil.example\x1b\\osc-link\x1b]8;;\x1b\\",
    "\x1b]0;title\x07",
    "\x9b31mC1-CSI",
    "\x1b[?1049hscreen-swap",
    "new\nline",
    "crlf\r\nend",
    "tab\tinside",
    "backspace\x08\x08xx",
    "del-\x7f-end",
    "rtl\u202eexe.txt",
    "rli\u2067x\u2069",
    "zero\u200bwidth",
    "bom\ufeffinside",
    "emoji/🚀🔥💾",
    "wide/한국어",
    "combining/e\u0301e\u0301",
    "k" * 1024,
]


def server_can_store(key: str, kind: str) -> bool:
    """Keys each server is known to refuse, not sent at all (as in tests/test_hostile_keys.py).

    moto answers 500 to control characters and its listing of the bucket then breaks for good; RGW 16.2
    answers 500 to C0 controls but tab/LF/CR and leaves a phantom entry that breaks the bucket's listing.
    Anything else a server refuses is skipped per key (and counted against the minimum).
    """
    if kind == "moto":
        return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    return not any(ord(c) < 0x20 and c not in "\t\n\r" for c in key)


# -- reading what is painted ------------------------------------------------------------------------------


def text_of(strip: Strip) -> str:
    return "".join(segment.text for segment in strip)


def assert_inert(line: str, where: str) -> None:
    bad = raw_unsafe(line) | ({"\n"} & set(line))
    assert not bad, f"raw {bad!r} painted in {where}: {line!r}"


def table_lines(table: VirtualTable) -> list[Strip]:
    """Every line the table paints now, each checked: inert, exactly the content width in cells."""
    width = table.scrollable_content_region.width
    assert width > 0
    strips = [table.render_line(y) for y in range(table.scrollable_content_region.height)]
    for y, strip in enumerate(strips):
        assert strip.cell_length == width, f"{table.id} line {y}: {strip.cell_length} cells, not {width}"
        assert_inert(text_of(strip), f"{table.id} line {y}")
    return strips


def screen_lines(app: MputuiApp) -> list[str]:
    """The whole screen as painted (a dialog with the main screen behind it): 45 lines of 160 cells."""
    strips = app.screen._compositor.render_strips()
    assert len(strips) == SIZE[1]
    for y, strip in enumerate(strips):
        assert strip.cell_length == SIZE[0], f"screen line {y}: {strip.cell_length} cells"
        assert_inert(text_of(strip), f"screen line {y}")
    return [text_of(s) for s in strips]


def assert_shows_key(cell: str, width: int, key: str) -> None:
    """``cell`` (one table cell, ``width`` cells wide) shows ``visible(key)``: whole, or cut with "…"."""
    shown = visible(key)
    assert cell_len(cell) == width, f"key cell of {key!r} is {cell_len(cell)} cells, not {width}"
    if cell.startswith(shown) and not cell[len(shown) :].strip(" "):
        return
    assert cell_len(shown) > width, f"{key!r} fits in {width} cells yet shows as {cell!r}"
    body = cell.rstrip(" ")
    assert body.endswith("…"), f"{key!r} cut without an ellipsis: {cell!r}"
    body = body[:-1]
    # A wide character that would straddle the cut is replaced by one space.
    assert shown.startswith(body) or (body.endswith(" ") and shown.startswith(body[:-1])), (
        f"{key!r} shows as {cell!r}, not a prefix of {shown!r}"
    )
    assert cell_len(body) >= width - 2


def key_cell(table: UploadTable, strip: Strip) -> tuple[str, int]:
    x = 0
    for col, w in table.columns(table.scrollable_content_region.width):
        if col.id == "key":
            return text_of(strip.crop(x, x + w)), w
        x += w + 1
    raise AssertionError("the uploads table has no key column")


def row_strip(table: VirtualTable, index: int) -> Strip:
    """The painted line of row ``index`` (it must be on screen)."""
    y = index - int(table.scroll_y) + 1  # one header line
    assert 0 < y < table.scrollable_content_region.height, f"row {index} is not on screen"
    return table.render_line(y)


# -- the walk through every row, shared by the server and offline tests ----------------------------------


def fixed_lines(app: MputuiApp, lines: list[str]) -> dict[str, str]:
    """Lines that must not change whatever row is highlighted: title, pane titles, status, footer."""
    main = app.main_screen
    status_y = main.query_one("#status").region.y
    return {"title": lines[0], "pane titles": lines[1], "status": lines[status_y], "footer": lines[-1]}


async def walk_every_row(pilot: Any, app: MputuiApp, keys: dict[tuple[str, str, str], str]) -> int:
    """Highlight every row top to bottom; check the table, the parts pane and the whole screen each time.

    ``keys``: ident → the key as created. Returns the number of rows checked.
    """
    table = app.uploads
    parts = app.main_screen.query_one(PartsTable)
    await pilot.press("K", "home")
    await settle(pilot, WAIT)
    lines = screen_lines(app)
    fixed = fixed_lines(app, lines)
    assert status.title_text(app).plain in fixed["title"]
    assert "Uploads · All buckets" in fixed["pane titles"]
    assert fixed["status"].startswith(" Scanned ") or fixed["status"].startswith("Scanned ")
    assert f"{len(keys):,} uploads" in fixed["status"] and "nothing marked" in fixed["status"]
    seen = set()
    for index in range(table.row_count()):
        if index:
            table.action_cursor_down()  # what ↓ does (half the time of a Pilot key press, 155 times)
            await pilot.pause()
        assert table.cursor == index
        row = table.current
        assert row is not None
        seen.add(row.ident)
        table_lines(table)
        table_lines(parts)
        cell, width = key_cell(table, row_strip(table, index))
        assert_shows_key(cell, width, keys[row.ident])
        now = screen_lines(app)
        assert fixed_lines(app, now) == fixed, f"a fixed line changed with {keys[row.ident]!r} highlighted"
    assert seen == set(keys)
    return len(seen)


async def check_parts_pane(pilot: Any, app: MputuiApp, keys: dict[tuple[str, str, str], str]) -> int:
    """With each of the NASTIEST keys present highlighted and its parts listed: the parts pane is clean."""
    table = app.uploads
    parts = app.main_screen.query_one(PartsTable)
    checked = 0
    for index, row in enumerate(list(app.store.view)):
        if keys[row.ident] not in NASTIEST:
            continue
        table.move_cursor(index)
        await settle(pilot, WAIT)
        assert parts.upload is not None and parts.upload.ident == row.ident
        assert parts.empty_message != "listing parts…"
        assert len(parts.rows) == (row.upload.parts or 0)
        table_lines(parts)
        summary = app.main_screen.query_one("#parts-summary").content
        assert_inert(str(summary), "parts summary")
        screen_lines(app)
        checked += 1
    return checked


async def check_confirm_dialog(pilot: Any, app: MputuiApp, keys: dict[tuple[str, str, str], str]) -> None:
    """Mark everything, open the abort confirmation, and read every target line in it."""
    await pilot.press("a", "d")
    dialog = app.screen
    assert isinstance(dialog, ConfirmAbort)
    await pilot.pause(0.1)
    targets = dialog.query_one(TargetList)
    assert {r.ident for r in targets.rows} == set(keys)
    width = targets.scrollable_content_region.width
    bucket_w, key_w, _, _ = targets._widths(width)
    checked: set[int] = set()
    while True:
        top = int(targets.scroll_y)
        for y, strip in enumerate(table_lines(targets)[1:]):
            index = top + y
            if index >= len(targets.rows):
                break
            cell = text_of(strip.crop(bucket_w + 1, bucket_w + 1 + key_w))
            assert_shows_key(cell, key_w, keys[targets.rows[index].ident])
            checked.add(index)
        screen_lines(app)
        if len(checked) == len(targets.rows):
            break
        await pilot.press("pagedown")  # scrolls the targets, does not cancel
        assert app.screen is dialog
        assert int(targets.scroll_y) > top, "the target list did not scroll"
    for selector in ("#confirm-title", "#confirm-facts", "#confirm-help"):
        for line in str(dialog.query_one(selector).content).split("\n"):  # the facts are two lines
            assert_inert(line, selector)
    title = str(dialog.query_one("#confirm-title").content)
    assert title.startswith(f"Abort {len(keys):,} multipart uploads, ")
    await pilot.press("n")
    assert not isinstance(app.screen, ConfirmAbort)
    assert app.store.marked_count == len(keys)


# -- against the servers ---------------------------------------------------------------------------------


def create_corpus(server: Any, bucket: str) -> dict[tuple[str, str, str], str]:
    """Start an upload for every corpus key the server stores (every third with a 1-byte part)."""
    client = server.client()
    made: dict[tuple[str, str, str], str] = {}
    refused = []
    for n, key in enumerate(k for k in corpus() if server_can_store(k, server.kind)):
        try:
            upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            if n % 3 == 0:
                client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x")
        except ClientError:
            refused.append(key)
            continue
        made[(bucket, key, upload_id)] = key
    minimum = 70 if server.kind == "moto" else 105
    assert len(made) >= minimum, f"{server.kind} stored only {len(made)} hostile keys; refused {refused!r}"
    return made


async def test_hostile_keys_render_inert_on_both_servers(s3_server: Any, s3_bucket_factory: Any) -> None:
    bucket = s3_bucket_factory()
    keys = create_corpus(s3_server, bucket)
    app = MputuiApp(s3_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, WAIT)
        # Every key came back from the server into the table byte for byte (the lean listing path).
        assert {r.ident for r in app.store.view} == set(keys)
        assert all(r.note is None for r in app.store.view)
        assert await walk_every_row(pilot, app, keys) == len(keys)
        present = sum(1 for k in keys.values() if k in NASTIEST)
        assert present >= 10
        assert await check_parts_pane(pilot, app, keys) == present
        await check_confirm_dialog(pilot, app, keys)


# -- the whole corpus, offline -----------------------------------------------------------------------------


OFFLINE_BUCKET = "hostile"
ODD_BUCKET = "[red]odd\x1b[2J\u202ebucket"
"""Bucket names come from the server too: one that S3 would never allow, with markup, ESC and RLO."""


def offline_uploads(keys: Iterable[str], bucket: str = OFFLINE_BUCKET) -> list[Upload]:
    """Fixed uploads for ``keys``: ids, times, parts and sizes derived from the position only."""
    uploads = []
    for n, key in enumerate(keys):
        initiated = FROZEN_NOW - timedelta(days=1 + n * 3, hours=n % 7)
        parts = n % 4
        uploads.append(
            Upload(
                bucket=bucket,
                key=key,
                upload_id=f"2~{n:03d}hostile{'x' * 40}" if n % 5 else f"[b]\x1b[2J{n:03d}\u202eid",
                initiated=initiated,
                storage_class="STANDARD",
                parts=parts,
                size=parts * (5 * 1024 * 1024 + n),
                last_modified=initiated + timedelta(minutes=30) if parts else None,
            )
        )
    return uploads


def fake_parts(upload: Upload) -> list[Part]:
    """The parts an upload claims, each 5 MiB but the last, with an ETag that tries its luck too."""
    count = upload.parts or 0
    return [
        Part(
            part_number=i,
            size=5 * 1024 * 1024 if i < count else 1234,
            etag=f'"{i:02d}\x1b[31m[b]{"0" * 24}"',
            last_modified=upload.initiated + timedelta(minutes=i),
        )
        for i in range(1, count + 1)
    ]


class OfflineApp(MputuiApp):
    """The app with no S3 behind it: rows arrive as the scan worker posts them; parts come from fake_parts.

    ``conn`` is a real connection object to a closed port, never used: it only tells the app it is
    connected.
    """

    def __init__(self, uploads: list[Upload], **kwargs: Any) -> None:
        settings = ConnectionSettings(endpoint_url="http://127.0.0.1:9", demo_credentials=("k", "s"))
        super().__init__(settings, clock=frozen_clock, **kwargs)
        self.offline = uploads

    def on_mount(self) -> None:
        self.scan.connect = self._feed  # type: ignore[method-assign]
        self.parts._load = self._parts  # type: ignore[method-assign]
        super().on_mount()

    def _parts(self, upload: Upload) -> None:
        self.post_message(PartsListed(upload, fake_parts(upload)))

    def _feed(self) -> None:
        self.conn = S3Connection(self.settings)
        scan = self.scan
        scan.seq = scan.full_scan_id = 1
        scan.scans[1] = None  # type: ignore[assignment]  # "a scan is running" until the data is in
        buckets = tuple(dict.fromkeys(u.bucket for u in self.offline))
        post = self.post_message
        post(ScanEventPosted(1, BucketsListed(buckets)))
        post(UploadsFound(1, list(self.offline)))
        summaries = []
        for name in buckets:
            mine = [u for u in self.offline if u.bucket == name]
            summary = BucketSummary(
                name,
                uploads=len(mine),
                parts=sum(u.parts or 0 for u in mine),
                size=sum(u.size or 0 for u in mine),
                oldest=min(u.initiated for u in mine),
            )
            summaries.append(summary)
            post(ScanEventPosted(1, BucketDone(summary)))
        totals = ScanTotals(
            buckets=len(buckets),
            uploads=len(self.offline),
            parts=sum(s.parts for s in summaries),
            size=sum(s.size for s in summaries),
        )
        post(ScanEventPosted(1, ScanFinished(totals, tuple(summaries))))


def offline_corpus() -> list[Upload]:
    keys = corpus()
    return offline_uploads(keys) + offline_uploads(NASTIEST[:6], bucket=ODD_BUCKET)


async def test_whole_corpus_renders_inert_offline() -> None:
    uploads = offline_corpus()
    keys = {u.ident: u.key for u in uploads}
    assert len(keys) == len(uploads) >= 149
    assert any("\x1b" in k for k in keys.values()) and any("\x07" in k for k in keys.values())
    app = OfflineApp(uploads)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert {r.ident for r in app.store.view} == set(keys)
        assert await walk_every_row(pilot, app, keys) == len(keys)
        table_lines(app.buckets)
        assert await check_parts_pane(pilot, app, keys) == len(NASTIEST) + 6
        await check_confirm_dialog(pilot, app, keys)


# -- SVG snapshots ---------------------------------------------------------------------------------------


def snapshot_app() -> OfflineApp:
    return OfflineApp(offline_uploads(NASTIEST), title_suffix="hostile keys")


def test_hostile_main_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("K", "home", "down", "down")  # ␛]0;title␇: two parts, their ETags hostile too
        await settle(pilot)
        assert pilot.app.uploads.current.upload.key == "\x1b]0;title\x07"
        assert len(pilot.app.query_one(PartsTable).rows) == 2

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_hostile_confirm_dialog(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("K", "home", "a", "d")
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_hostile_render"


def svg_lines(name: str) -> list[str]:
    """The text of a stored snapshot, line by line (adjacent text runs joined; blank cells are not drawn)."""
    path = SNAPSHOTS / f"{name}.svg"
    assert path.exists(), f"{path} missing: run pytest tests/tui --snapshot-update and look at it"
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(
        r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', path.read_text()
    ):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    return ["".join(t for _, t in sorted(chunks)).replace("\xa0", " ") for _, chunks in sorted(rows.items())]


def test_hostile_snapshots_show_keys_literally() -> None:
    """What the stored pictures hold (so a --snapshot-update cannot quietly accept a broken rendering)."""
    main = "\n".join(svg_lines("test_hostile_main_screen"))
    dialog = "\n".join(svg_lines("test_hostile_confirm_dialog"))
    in_both = [
        "[b]bold[/b]",
        "[@click=app.quit]quit[/]",
        "[/]",
        "␛[2Jclear-screen",
        "␛[?1049hscreen-swap",
        "␛]0;title␇",
        "backspace␈␈xx",
        "bom⟨U+FEFF⟩inside",
        "combining/e\u0301e\u0301",
        "[b]␛[2J",  # a hostile upload id, cut to the id column
    ]
    main_only = [
        "\\x9b31mC1-CSI",
        "new␤line",
        "crlf␍␤end",
        "tab␉inside",
        "del-␡-end",
        "rtl⟨U+202E⟩exe.txt",
        "rli⟨U+2067⟩x⟨U+2069⟩",
        "zero⟨U+200B⟩width",
        "emoji/🚀🔥💾",
        "wide/한국어",
        "[link=http://evil.example…",
        "kkkkkkkkkkkk…",
        "01␛[…",  # the parts pane's ETag column (5 cells wide at this size)
    ]
    for text, expected in ((main, in_both + main_only), (dialog, in_both)):
        assert_inert(text.replace("\n", " "), "the snapshot")
        for shown in expected:
            assert shown in text, f"{shown!r} not shown literally"
    assert "[link=http://evil.example]click me[/link]" in dialog
    assert "␛]8;;http://evil.example␛\\osc-link␛]8;;␛\\" in dialog
    assert "Abort 22 multipart uploads" in dialog
    assert len(svg_lines("test_hostile_main_screen")) == SIZE[1]
