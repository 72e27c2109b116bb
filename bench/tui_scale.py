"""Load 100,000 synthetic uploads into the TUI headless and measure it.

Prints time-to-render after the data arrives, keypress latency (cursor move, mark, mark all, filter
keystrokes, sort) as p50/p95/max, and peak RSS. Targets: render < 1 s, key p95 < 50 ms, RSS < 300 MB.

    python bench/tui_scale.py [--rows 100000] [--batch 500]

No S3 endpoint is involved: the rows are posted to the app exactly as the scan worker posts them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from textual import events
from textual.drivers.headless_driver import HeadlessDriver

from mputui.s3.connect import ConnectionSettings
from mputui.s3.models import BucketDone, BucketsListed, BucketSummary, ScanFinished, ScanTotals, Upload
from mputui.tui.app import MputuiApp
from mputui.tui.messages import ScanEventPosted, UploadsFound

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BUCKETS = [f"bench-bucket-{i}" for i in range(8)]


class BenchApp(MputuiApp):
    """The app with no S3 behind it: rows arrive only from the benchmark."""

    def on_mount(self) -> None:
        self.scan.connect = self._no_connect  # type: ignore[method-assign]
        super().on_mount()

    def _no_connect(self) -> None:
        self.scan.scans[1] = None  # type: ignore[assignment]  # "a scan is running" until the data is in
        self.scan.full_scan_id = 1
        self.scan.owner.update(dict.fromkeys(BUCKETS, 1))


def synthetic_uploads(n: int) -> list[Upload]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        bucket = BUCKETS[i % len(BUCKETS)]
        initiated = NOW - timedelta(seconds=rng.randint(60, 400 * 86400))
        parts = rng.randint(0, 40)
        out.append(
            Upload(
                bucket=bucket,
                key=f"data/{rng.choice(['logs', 'images', 'backups', 'tmp'])}/{i // 1000:03d}/object-{i:06d}.bin",
                upload_id=f"{rng.getrandbits(128):032x}",
                initiated=initiated,
                storage_class="STANDARD",
                parts=parts,
                size=parts * rng.randint(1, 16) * 1024 * 1024,
                last_modified=initiated + timedelta(seconds=rng.randint(0, 3600)) if parts else None,
            )
        )
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


LOOP_CPU: list[float] = []

CHARS = {"space": " ", "slash": "/", "backspace": None, "enter": "\r"}


class TerminalSink(HeadlessDriver):
    """A driver that renders every frame to terminal escape codes like a real one, and records when.

    The headless driver skips turning frames into bytes; a terminal user pays for it, so the benchmark does.
    """

    writes: list[tuple[float, int]]

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self.writes.append((time.perf_counter(), len(data)))


def use_terminal_sink(app: MputuiApp) -> TerminalSink:
    driver = app._driver
    assert isinstance(driver, HeadlessDriver)
    driver.__class__ = TerminalSink
    assert isinstance(driver, TerminalSink)
    driver.writes = []
    return driver


def idle(app: MputuiApp) -> bool:
    """Every message the app and the current screen's widgets hold is handled, and no repaint is due."""
    screen = app.screen
    if screen._dirty_widgets or screen._layout_required or screen._repaint_required:  # type: ignore[attr-defined]
        return False
    if screen._scroll_required:  # type: ignore[attr-defined]
        return False
    if not app._message_queue.empty():  # type: ignore[attr-defined]
        return False
    return all(node._message_queue.empty() for node in screen.walk_children(with_self=True))  # type: ignore[attr-defined]


async def timed_press(pilot: object, app: MputuiApp, key: str) -> float:
    """Milliseconds from the key event entering the app until the last frame it caused is written.

    The key is sent the way the terminal driver sends it; the clock stops at the last write of terminal
    output once every queue is drained and no repaint is pending (or, for a key that changes nothing, when
    that is so). Deliberate delays (the parts pane waits for the cursor to settle) are not the key's.
    """
    driver = app._driver
    assert isinstance(driver, TerminalSink)
    char = CHARS.get(key, key if len(key) == 1 else None)
    writes_before = len(driver.writes)
    start = time.perf_counter()
    cpu_start = time.thread_time()
    event = events.Key(key, char)
    event.set_sender(app)
    driver.send_message(event)
    settled = 0
    while settled < 2:  # idle on two consecutive loop turns: nothing left in flight
        await asyncio.sleep(0.0005)
        settled = settled + 1 if idle(app) else 0
    idle_at = time.perf_counter()
    # CPU time of the event-loop thread over the same span: what the key cost the loop, whatever else
    # runs on the machine (wall-clock latency on a loaded 2-CPU box is mostly waiting for a CPU).
    LOOP_CPU.append((time.thread_time() - cpu_start) * 1000)
    new_writes = driver.writes[writes_before:]
    end = new_writes[-1][0] if new_writes else idle_at
    await pilot.pause()  # type: ignore[attr-defined]
    return (end - start) * 1000


async def applied_ms(app: MputuiApp, start: float) -> float:
    """Milliseconds from ``start`` until the uploads view reflects the query (computed off the loop)."""
    while app.view.pending:
        await asyncio.sleep(0.002)
    return (time.perf_counter() - start) * 1000


async def run(rows: int, batch: int) -> dict[str, object]:
    uploads = synthetic_uploads(rows)
    app = BenchApp(ConnectionSettings(endpoint_url="http://127.0.0.1:9"), clock=lambda: NOW)
    results: dict[str, object] = {}
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        use_terminal_sink(app)
        app.post_message(ScanEventPosted(1, BucketsListed(tuple(BUCKETS))))
        await pilot.pause()
        start = time.perf_counter()
        for i in range(0, rows, batch):
            app.post_message(UploadsFound(1, uploads[i : i + batch]))
        stream_posted = time.perf_counter()
        while len(app.store) < rows:
            await asyncio.sleep(0.01)
        data_in = time.perf_counter()
        for name in BUCKETS:
            app.post_message(ScanEventPosted(1, BucketDone(BucketSummary(name))))
        app.scan.scans.clear()
        app.post_message(ScanEventPosted(1, ScanFinished(ScanTotals(buckets=len(BUCKETS), uploads=rows))))
        app.refresh_all()
        await pilot.pause()
        # Rendered: the table's first screen reflects every row.
        while app.uploads.virtual_size.height < rows + 1:
            await asyncio.sleep(0.005)
        await pilot.wait_for_scheduled_animations()
        rendered = time.perf_counter()
        results["stream_all_batches_s"] = data_in - start
        results["post_s"] = stream_posted - start
        results["render_after_data_s"] = rendered - data_in
        results["rows_in_view"] = len(app.store.view)

        latencies: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def record(name: str, wall: float) -> None:
            latencies.setdefault(name, []).append(wall)
            cpu.setdefault(name, []).append(LOOP_CPU[-1])

        floor = [await timed_press(pilot, app, "f12") for _ in range(20)]
        results["floor_ms"] = (statistics.median(floor), pct(floor, 0.95))
        for _ in range(60):
            record("cursor down", await timed_press(pilot, app, "down"))
        for _ in range(20):
            record("page down", await timed_press(pilot, app, "pagedown"))
        for _ in range(40):
            record("mark (space)", await timed_press(pilot, app, "space"))
        for key in ["a", "i"] * 5:
            record("mark all (a) / invert (i)", await timed_press(pilot, app, key))
        applied: dict[str, list[float]] = {"filter typed → view applied": [], "sort key → view applied": []}
        for _ in range(3):
            await pilot.press("slash")
            for ch in "object-0":
                record("filter keystroke", await timed_press(pilot, app, ch))
            # Typing ahead: the view follows the last keystroke (earlier computations are superseded).
            start = time.perf_counter()
            applied["filter typed → view applied"].append(await applied_ms(app, start))
            for _ in range(8):
                record("filter keystroke", await timed_press(pilot, app, "backspace"))
            await applied_ms(app, time.perf_counter())
            await pilot.press("enter")
        for key in ["S", "K", "A", "S", "K", "A"]:
            start = time.perf_counter()
            record("sort (S/K/A)", await timed_press(pilot, app, key))
            applied["sort key → view applied"].append(await applied_ms(app, start))
        results["loop_cpu_ms"] = {
            name: (statistics.median(v), pct(v, 0.95), max(v)) for name, v in cpu.items()
        }
        results["loop_cpu_all_p95_ms"] = pct([x for v in cpu.values() for x in v], 0.95)
        results["latency_ms"] = {
            name: (statistics.median(v), pct(v, 0.95), max(v)) for name, v in latencies.items()
        }
        results["applied_ms"] = {
            name: (statistics.median(v), pct(v, 0.95), max(v)) for name, v in applied.items()
        }
        every = [x for v in latencies.values() for x in v]
        results["all_p95_ms"] = pct(every, 0.95)
        triage = [x for k, v in latencies.items() if not k.startswith("sort") for x in v]
        results["triage_p95_ms"] = pct(triage, 0.95)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results["peak_rss_mb"] = peak_kib / 1024
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    results = asyncio.run(run(args.rows, args.batch))
    print(f"rows: {args.rows:,} in batches of {args.batch} ({results['rows_in_view']:,} in view)")
    print(f"all batches handled (streaming):  {results['stream_all_batches_s']:.2f} s")
    print(
        f"rendered after data:               {results['render_after_data_s'] * 1000:.0f} ms   (target < 1000 ms)"
    )
    floor = results["floor_ms"]
    print(f"unbound key (harness floor):       median {floor[0]:.1f} ms, p95 {floor[1]:.1f} ms")  # type: ignore[index]
    print("key latency, press → its last frame written as terminal output (median / p95 / max ms):")
    for name, (p50, p95, worst) in results["latency_ms"].items():  # type: ignore[attr-defined]
        print(f"  {name:<26} {p50:7.1f} {p95:7.1f} {worst:7.1f}")
    print(f"triage keys p95 (all but sort):    {results['triage_p95_ms']:.1f} ms   (target < 50 ms)")
    print(f"every key p95 (sort included):     {results['all_p95_ms']:.1f} ms   (target < 50 ms)")
    print("new view applied after (off the event loop; median / p95 / max ms):")
    for name, (p50, p95, worst) in results["applied_ms"].items():  # type: ignore[attr-defined]
        print(f"  {name:<28} {p50:7.1f} {p95:7.1f} {worst:7.1f}")
    print("event-loop thread CPU per key, load-independent (median / p95 / max ms):")
    for name, (p50, p95, worst) in results["loop_cpu_ms"].items():  # type: ignore[attr-defined]
        print(f"  {name:<26} {p50:7.1f} {p95:7.1f} {worst:7.1f}")
    print(f"every key, loop CPU p95:           {results['loop_cpu_all_p95_ms']:.1f} ms   (target < 50 ms)")
    print(f"peak RSS:                          {results['peak_rss_mb']:.0f} MB   (target < 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
