"""``mputui demo``: serve the demo endpoint in the foreground until interrupted."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from mputui.demo.server import DemoEndpoint, start_demo
from mputui.formatting import format_size

# --- mputui demo (foreground) ----------------------------------------------------------------------------


def _usage_lines(demo: DemoEndpoint, seeded: bool) -> Iterator[str]:
    s = demo.seeded
    yield f"endpoint: {demo.url}"
    yield f"region:   {demo.region}"
    if seeded:
        yield (
            f"seeded:   {s.buckets} buckets, {s.uploads} incomplete uploads, {s.parts:,} parts, "
            f"{format_size(s.total_bytes)} ({s.objects} normal objects) in {s.seconds:.2f} s"
        )
    else:
        yield "seeded:   nothing (--no-seed)"
    yield ""
    yield "Point mputui (or any S3 tool) at it from another shell; the keys are public demo values:"
    yield f"  export AWS_ACCESS_KEY_ID={demo.access_key}"
    yield f"  export AWS_SECRET_ACCESS_KEY={demo.secret_key}"
    yield f"  export AWS_DEFAULT_REGION={demo.region}"
    yield f"  mputui --endpoint-url {demo.url} ls"
    yield ""
    yield "Press Ctrl-C to stop."


def run_foreground(
    port: int = 0,
    seed: bool = True,
    json_output: bool = False,
    *,
    host: str = "127.0.0.1",
    out: TextIO | None = None,
) -> int:
    """``mputui demo``: serve the demo endpoint until SIGTERM or SIGINT, then stop cleanly; returns 0.

    Prints how to use it once the server answers: human-readable lines, or with ``json_output`` exactly one
    JSON line ``{"endpoint_url", "access_key", "secret_key", "region", "seeded": {counts}}`` (flushed).
    """
    out = out or sys.stdout
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        demo = start_demo(seed=seed, port=port, host=host)
        try:
            if json_output:
                line = {
                    "endpoint_url": demo.url,
                    "access_key": demo.access_key,
                    "secret_key": demo.secret_key,
                    "region": demo.region,
                    "seeded": demo.seeded.counts(),
                }
                out.write(json.dumps(line) + "\n")
            else:
                out.write("\n".join(_usage_lines(demo, seed)) + "\n")
            out.flush()
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            demo.stop()
    finally:
        restore()
    return 0


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop`` (main thread only); returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        saved[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in saved.items():
            signal.signal(sig, old)

    return restore
