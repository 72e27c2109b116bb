"""Helpers for the TUI tests: wait for the app's background work, seed uploads, a frozen clock."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

FROZEN_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in this directory on a fresh event loop (no async plugin is installed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


def frozen_clock() -> datetime:
    return FROZEN_NOW


async def settle(pilot: Any, timeout: float = 60.0) -> None:
    """Wait until the scan is over, the parts pane has loaded and no message is pending."""
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await pilot.pause(0.05)
        if app.busy:
            continue
        if app.workers._workers and any(w.is_running for w in app.workers):
            continue
        await pilot.pause(0.05)
        return
    raise AssertionError("the app did not settle in time")


def make_upload(client: Any, bucket: str, key: str, parts: int = 1, part_size: int = 1024) -> str:
    """Start a multipart upload with ``parts`` parts; returns its upload id."""
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for number in range(1, parts + 1):
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x" * part_size
        )
    return upload_id


def remaining(client: Any, bucket: str) -> set[tuple[str, str]]:
    """(key, upload id) of every in-progress upload left in ``bucket``."""
    page = client.list_multipart_uploads(Bucket=bucket)
    return {(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])}


@pytest.fixture(scope="module")
def demo() -> Iterator[Any]:
    """The embedded demo endpoint seeded at the frozen time (one per module: moto's backend is global)."""
    from mputui.demo import start_demo

    endpoint = start_demo(now=FROZEN_NOW)
    yield endpoint
    endpoint.stop()
