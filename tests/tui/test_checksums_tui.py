"""The TUI and uploads created with a checksum algorithm: the parts pane names it, a commit sends the checksums
(through the AWS-rules double in front of moto, which refuses a Complete without them)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from awsrules import AwsRulesProxy

from conftest import settle
from mputui.tui.app import MputuiApp
from mputui.tui.screens.commit import CommitDialog

SIZE = (160, 45)
MIB = 1024 * 1024


async def wait_for(pilot: Any, condition: Callable[[], object], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def start_upload(client: Any, bucket: str, key: str, algorithm: str, parts: dict[int, bytes]) -> str:
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm)[
        "UploadId"
    ]
    for n, data in parts.items():
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data, ChecksumAlgorithm=algorithm
        )
    return upload_id


@pytest.fixture
def rules(moto_server: Any) -> Iterator[tuple[AwsRulesProxy, Any]]:
    host, port = moto_server.url.removeprefix("http://").rsplit(":", 1)
    proxy = AwsRulesProxy(host, int(port)).start()
    try:
        yield proxy, dataclasses.replace(moto_server, url=proxy.url)
    finally:
        proxy.stop()


async def test_parts_pane_names_the_checksum(moto_server: Any, bucket_factory: Any) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    start_upload(client, bucket, "sum.bin", "CRC32C", {1: b"a" * (5 * MIB), 2: b"tail"})
    app = MputuiApp(moto_server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        summary = app.main_screen.query_one("#parts-summary")
        await wait_for(pilot, lambda: "committable" in str(summary.render()))
        assert str(summary.render()) == "2 parts · 5.0 MiB · CRC32C composite · parts look committable"


async def test_commit_sends_the_part_checksums(rules: tuple[AwsRulesProxy, Any], bucket_factory: Any) -> None:
    proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    parts = {1: b"a" * (5 * MIB), 2: b"tail"}
    start_upload(client, bucket, "sum.bin", "SHA256", parts)
    app = MputuiApp(server.settings(), bucket=bucket)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, CommitDialog)
        await wait_for(pilot, lambda: dialog.plan is not None)
        assert dialog.plan is not None and dialog.plan.checksum_algorithm == "SHA256"
        shown = str(dialog.query_one("#commit-plan").render())
        assert "checksum:  SHA256 composite, each part's listed checksum is sent" in shown
        await pilot.click("#commit-yes")
        await wait_for(pilot, lambda: dialog.result is not None)
        assert dialog.result is not None and dialog.result.status == "committed" and dialog.result.verified
    assert proxy.refused == [] and len(proxy.completed) == 1
    assert client.get_object(Bucket=bucket, Key="sum.bin")["Body"].read() == parts[1] + parts[2]
