"""The text of the title bar, the status line, the uploads pane's title and the buckets total."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.content import Content

from mputui.formatting import compact_age, format_count, format_size, redact_url, safe_text
from mputui.tui.model import UploadStore

if TYPE_CHECKING:
    from mputui.tui.app import MputuiApp


def title_text(app: MputuiApp) -> Content:
    settings = app.settings
    where = redact_url(settings.endpoint_url) if settings.endpoint_url else "AWS (default endpoint)"
    parts = ["mputui", safe_text(where)]
    if settings.profile:
        parts.append(f"profile {safe_text(settings.profile)}")
    if app.bucket_arg:
        parts.append(f"bucket {safe_text(app.bucket_arg)}")
    if app.prefix:
        parts.append(f"prefix {safe_text(app.prefix)}")
    if app.title_suffix:
        parts.append(safe_text(app.title_suffix))
    text = Content(" · ".join(parts))
    if app.read_only:
        text += Content.styled("  READ-ONLY (abort, commit, copy disabled)", "bold $text-warning")
    return text


def status_text(app: MputuiApp) -> Text:
    store, scan = app.store, app.scan
    text = Text()
    if scan.running:
        p = scan.progress
        if p is not None:
            text.append(
                f"Scanning {p.buckets_done}/{p.buckets_total} buckets · {format_count(p.uploads)} uploads · "
                f"{p.requests_per_second:,.0f} req/s",
                style="bold",
            )
        else:
            text.append("Scanning…", style="bold")
    elif app.scan_error:
        text.append("Scan failed", style="bold red")
    elif scan.totals is not None:
        # Only deterministic numbers here: request counts and timings vary with retries and load.
        t = scan.totals
        state = "Scan cancelled:" if t.cancelled else "Scanned"
        stats = store.stats(None)
        text.append(
            f"{state} {format_count(t.buckets)} buckets · {format_count(stats.uploads)} uploads · "
            f"{format_size(stats.size)}"
        )
        if t.failed_buckets:
            text.append(f" · {t.failed_buckets} failed", style="red")
    marked = store.marked_count
    text.append("  │  ")
    if marked:
        text.append(f"{format_count(marked)} marked · {format_size(store.marked_bytes)}", style="bold")
        hidden = store.hidden_marked()
        if hidden:
            text.append(f" ({format_count(hidden)} not shown)", style="yellow")
    else:
        text.append("nothing marked", style="dim")
    filters = filter_summary(store)
    if filters:
        text.append("  │  filter: ")
        text.append(filters)
    arrow = "▼" if store.sort_descending else "▲"
    text.append(f"  │  sort: {store.sort_column}{arrow}", style="dim")
    jobs = app.jobs.status_text()
    if jobs:
        text.append("  │  ")
        text.append(jobs)
    if app.aborts.last and not app.aborts.running:
        text.append("  │  last abort: ")
        text.append(app.aborts.last)
    return text


def filter_summary(store: UploadStore) -> str:
    parts = []
    if store.key_filter:
        parts.append(f"key ∋ {safe_text(store.key_filter)!r}")
    if store.min_age is not None:
        parts.append(f"idle ≥ {compact_age(store.min_age.total_seconds())}")
    if store.min_size is not None:
        parts.append(f"size ≥ {format_size(store.min_size)}")
    return ", ".join(parts)


def bucket_total_text(app: MputuiApp) -> tuple[str, bool]:
    """The buckets pane's footer, and whether some bucket failed."""
    stats = app.store.stats(None)
    entries = app.buckets.entries.values()
    failed = sum(1 for e in entries if e.state == "failed")
    text = f"Σ {format_count(len(app.buckets.entries))} buckets"
    if failed:
        text += f" ({failed} failed)"
    text += f"\n  {format_count(stats.uploads)} uploads · {format_size(stats.size)}"
    if stats.unknown_sizes:
        text += f" + {format_count(stats.unknown_sizes)} unknown"
    return text, bool(failed)


def uploads_title(app: MputuiApp) -> tuple[Content, Content]:
    store = app.store
    scope = store.scope
    title = Content("Uploads · ") + Content(safe_text(scope) if scope else "All buckets")
    subtitle = f"{format_count(len(store.view))} shown"
    if store.filter_active:
        subtitle += f" of {format_count(len(store) if scope is None else store.stats(scope).uploads)}"
    if app.view.overdue:
        subtitle += " · updating…"
    return title, Content(subtitle)
