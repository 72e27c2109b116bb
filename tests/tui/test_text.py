"""Untrusted text: control, bidi and zero-width characters are shown, never obeyed; markup is never parsed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import make_upload, settle
from mputui.formatting import compact_age, format_age, format_size, one_line
from mputui.formatting import safe_text as visible
from mputui.s3.models import Upload
from mputui.tui.app import MputuiApp
from mputui.tui.text import safe_text

# Keys moto can store and list over HTTP; the others (ESC, CR, LF, BEL make its XML invalid) are injected
# straight into the app's store, which renders them through the same path.
SERVER_KEYS = [
    "markup/[b]bold[/b]",
    "markup/[link=https://evil.example]click[/link]",
    "markup/[red on blue]x",
    "ctrl/tab\there",
    "c1/\x9bcsi",
    "bidi/\u202egnp.exe",
    "bidi/\u2066isolate\u2069",
    "zw/zero\u200bwidth\u200d\ufeff",
    "lrm/\u200e\u200f",
]
INJECTED_KEYS = [
    "ansi/\x1b[2J\x1b[H-cleared",
    "ctrl/carriage\rreturn",
    "ctrl/new\nline",
    "ctrl/bell\x07del\x7f",
]
HOSTILE_KEYS = SERVER_KEYS + INJECTED_KEYS


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/key.txt", "plain/key.txt"),
        ("a\x1b[2Jb", "a␛[2Jb"),
        ("a\nb\rc\td", "a␤b␍c␉d"),
        ("\x00\x07\x7f", "␀␇␡"),
        ("\x85\x9b", "\\x85\\x9b"),
        ("\u202eabc", "⟨U+202E⟩abc"),
        ("\u2066x\u2069", "⟨U+2066⟩x⟨U+2069⟩"),
        ("\u200e\u200f", "⟨U+200E⟩⟨U+200F⟩"),
        ("a\u200bb\ufeff", "a⟨U+200B⟩b⟨U+FEFF⟩"),
        ("[b]x[/b]", "[b]x[/b]"),
        ("東京/夜景 №7 🎉", "東京/夜景 №7 🎉"),
        ("\u3164", "⟨U+3164⟩"),
    ],
)
def test_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_safe_text_never_parses_markup_and_flags_escapes() -> None:
    text = safe_text("[b]x[/b]\x1b", escape_style="reverse")
    assert text.plain == "[b]x[/b]␛"
    assert [(s.start, s.end) for s in text.spans] == [(8, 9)]


def test_one_line() -> None:
    assert one_line("a\n  b\x1b") == "a b␛"
    assert len(one_line("x" * 500, limit=10)) == 10


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (90, "1m"),
        (3 * 3600, "3h"),
        (3 * 86400, "3d"),
        (60 * 86400, "2mo"),
        (120 * 86400, "4mo"),
        (800 * 86400, "2y"),
    ],
)
def test_compact_age(seconds: float, text: str) -> None:
    assert compact_age(seconds) == text


def test_one_age_for_both_front_ends() -> None:
    # `mputui ls` (format_age) and the TUI's cells (compact_age) once disagreed on 60 days: 2mo and 1mo.
    for days in range(0, 1000):
        assert format_age(timedelta(days=days)) == compact_age(days * 86400)
    assert format_age(timedelta(days=59)) == "59d" and format_age(timedelta(days=60)) == "2mo"
    assert format_age(None) == "-"


def test_format_size() -> None:
    assert format_size(None) == "?"
    assert format_size(1) == "1 B"
    assert format_size(5) == "5 B"
    assert format_size(5 * 1024 * 1024) == "5.0 MiB"


async def test_hostile_keys_render_literally(moto_server: Any, bucket_factory: Any) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    for key in SERVER_KEYS:
        make_upload(client, bucket, key)
    injected = [
        Upload(bucket, key, f"id-{i}", datetime.now(UTC), parts=1, size=1)
        for i, key in enumerate(INJECTED_KEYS)
    ]
    app = MputuiApp(moto_server.settings(max_attempts=1), bucket=bucket)
    async with app.run_test(size=(200, 45)) as pilot:
        await settle(pilot)
        app.store.add(injected)
        app.refresh_all()
        await pilot.pause()
        assert len(app.store.view) == len(HOSTILE_KEYS)
        await pilot.press("a", "d")  # the confirm dialog lists every key too
        await pilot.pause(0.2)
        screen = "".join(
            segment.text for strip in app.screen._compositor.render_strips() for segment in strip
        )
        app.screen.dismiss(False)
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        main = "".join(segment.text for strip in strips for segment in strip)
    for text in (screen, main):
        for bad in "\x1b\r\n\t\x07\x7f\x9b\u202e\u2066\u2069\u200b\u200d\ufeff\u200e\u200f":
            assert bad not in text
        assert "[b]bold[/b]" in text
        assert "[link=https://evil.example]click[/link" in text
        assert "␛[2J␛[H-cleared" in text
        assert "⟨U+202E⟩gnp.exe" in text
    # Styles come only from the app: no segment carries a link from a key.
    for strip in strips:
        for segment in strip:
            assert not (segment.style and segment.style.link)
