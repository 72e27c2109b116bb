"""The embedded demo endpoint: seeded in-process, checked over HTTP with boto3 and with mputui's inventory."""

from __future__ import annotations

import http.client
import json
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest

from mputui import demo as demo_mod
from mputui.demo import DEMO_ACCESS_KEY, DEMO_REGION, DEMO_SECRET_KEY, DemoEndpoint, SeededUpload, start_demo
from mputui.s3.connect import S3Connection
from mputui.s3.errors import MputuiError
from mputui.s3.inventory import InventoryScan
from mputui.s3.models import ScanFinished, Upload, UploadFound

pytest.importorskip("moto")

FIXED = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
MOTO_FAKE_INITIATED = datetime(2010, 11, 10, 20, 48, 33, tzinfo=UTC)
MARKUP_KEYS = ("uploads/[b]x[/b]", "uploads/[link=http://x]y[/link]")
UNICODE_KEYS = ("photos/2024/été à Paris/IMG_0042.HEIC", "photos/東京/夜景 №7.jpg", "party 🎉/video 😀.mp4")
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoEndpoint]:
    t0 = time.monotonic()
    endpoint = start_demo(now=FIXED)
    ready = time.monotonic() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = endpoint.seeded
    print(
        f"\ndemo ready in {ready:.2f} s (seeding {s.seconds:.2f} s): {s.counts()}; peak RSS {rss_mib:.0f} MiB",
        file=sys.stderr,
    )
    TIMINGS["ready"] = ready
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def s3(demo: DemoEndpoint) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=demo.url,
        region_name=demo.region,
        aws_access_key_id=demo.access_key,
        aws_secret_access_key=demo.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


@pytest.fixture(scope="module")
def listed(demo: DemoEndpoint, s3: Any) -> dict[str, dict[str, Any]]:
    """Every upload ListMultipartUploads returns, by upload id."""
    uploads: dict[str, dict[str, Any]] = {}
    for bucket in demo.seeded.bucket_names:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                uploads[u["UploadId"]] = {**u, "Bucket": bucket}
    return uploads


def seeded(demo: DemoEndpoint) -> tuple[SeededUpload, ...]:
    return demo.seeded.seeded_uploads


def all_parts(s3: Any, bucket: str, key: str, upload_id: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    marker = 0
    while True:
        page = s3.list_parts(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000
        )
        parts.extend(page.get("Parts", []))
        if not page.get("IsTruncated"):
            return parts
        assert page["NextPartNumberMarker"] > marker
        marker = page["NextPartNumberMarker"]


def test_ready_fast_with_the_public_keys(demo: DemoEndpoint) -> None:
    ready = TIMINGS["ready"]
    print(f"seed {demo.seeded.seconds:.3f} s, ready {ready:.3f} s", file=sys.stderr)
    assert demo.seeded.seconds < 15
    assert ready < 15
    assert (demo.access_key, demo.secret_key, demo.region) == (DEMO_ACCESS_KEY, DEMO_SECRET_KEY, DEMO_REGION)
    assert demo.url.startswith("http://127.0.0.1:")
    settings = demo.settings(concurrency=4)
    assert settings.endpoint_url == demo.url
    assert settings.demo_credentials == (DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
    assert settings.path_style and settings.concurrency == 4 and settings.region == DEMO_REGION


def test_realistic_account_shape(demo: DemoEndpoint, s3: Any) -> None:
    s = demo.seeded
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert sorted(names) == sorted(s.bucket_names)
    assert 5 <= len(names) <= 8
    assert 200 <= s.uploads <= 500
    assert 100 * 2**20 <= s.total_bytes <= 300 * 10**6  # real bytes, hundreds of MiB, < 300 MB
    assert s.parts == sum(len(u.parts) for u in s.seeded_uploads)
    # Normal objects too, so the buckets look real.
    for name in names:
        assert s3.list_objects_v2(Bucket=name).get("KeyCount", 0) >= 1
    ups = seeded(demo)
    assert sum(1 for u in ups if not u.parts) >= 3
    assert any(len(u.parts) >= 1000 for u in ups)
    assert any(p.size == 8 * 2**20 for u in ups for p in u.parts)
    # Gaps in part numbers, and a non-last part under 5 MiB among otherwise big parts.
    assert any([p.number for p in u.parts] != list(range(1, len(u.parts) + 1)) for u in ups)
    assert any(
        any(p.size < 5 * 2**20 for p in u.parts[:-1]) and max(p.size for p in u.parts) >= 5 * 2**20
        for u in ups
        if len(u.parts) > 1
    )
    keys = Counter((u.bucket, u.key) for u in ups)
    assert max(keys.values()) >= 2  # the same key, several upload ids
    assert {"STANDARD", "STANDARD_IA", "GLACIER"} <= {u.storage_class for u in ups}


def test_initiated_times_are_the_seeded_ones(demo: DemoEndpoint, listed: dict[str, dict[str, Any]]) -> None:
    ups = seeded(demo)
    assert len(listed) == len(ups)
    for u in ups:
        got = listed[u.upload_id]
        assert (got["Bucket"], got["Key"]) == (u.bucket, u.key)
        assert got["Initiated"] == u.initiated, u.key
        assert got["StorageClass"] == u.storage_class
    initiated = [u["Initiated"] for u in listed.values()]
    assert MOTO_FAKE_INITIATED not in initiated
    assert len(set(initiated)) > len(initiated) * 0.9
    ages = [FIXED - t for t in initiated]
    assert min(ages) < timedelta(hours=1)
    assert max(ages) > timedelta(days=90)
    assert all(age > timedelta(0) for age in ages)


def test_some_uploads_are_still_active(demo: DemoEndpoint) -> None:
    newest = [u.last_modified for u in seeded(demo) if u.last_modified is not None]
    active = [t for t in newest if FIXED - t <= timedelta(minutes=15)]
    assert 3 <= len(active) <= len(newest) // 5
    assert all(t <= FIXED for t in newest)


def test_thousand_part_upload_pages_with_real_times(demo: DemoEndpoint, s3: Any) -> None:
    big = next(u for u in seeded(demo) if len(u.parts) >= 1000)
    parts = all_parts(s3, big.bucket, big.key, big.upload_id)
    assert [p["PartNumber"] for p in parts] == [p.number for p in big.parts]
    assert [p["Size"] for p in parts] == [p.size for p in big.parts]
    assert [p["LastModified"] for p in parts] == [p.last_modified for p in big.parts]
    assert all(p.last_modified >= big.initiated for p in big.parts)
    assert len({p["ETag"] for p in parts}) > 900  # real, varied bytes


def test_gap_upload_lists_its_parts(demo: DemoEndpoint, s3: Any) -> None:
    gap = next(u for u in seeded(demo) if [p.number for p in u.parts] == [1, 2, 4])
    parts = all_parts(s3, gap.bucket, gap.key, gap.upload_id)
    assert [p["PartNumber"] for p in parts] == [1, 2, 4]


def test_markup_and_unicode_keys_round_trip(
    demo: DemoEndpoint, s3: Any, listed: dict[str, dict[str, Any]]
) -> None:
    keys = {u["Key"] for u in listed.values()}
    for key in MARKUP_KEYS + UNICODE_KEYS:
        assert key in keys
        u = next(x for x in seeded(demo) if x.key == key)
        parts = all_parts(s3, u.bucket, key, u.upload_id)
        assert sum(p["Size"] for p in parts) == u.size
    body = s3.get_object(Bucket="acme-media-uploads", Key=MARKUP_KEYS[0])["Body"].read()
    assert len(body) == 3 * 1024


def test_inventory_scan_sees_every_seeded_upload(demo: DemoEndpoint) -> None:
    found: dict[tuple[str, str, str], Upload] = {}
    finished: list[ScanFinished] = []
    t0 = time.monotonic()
    for event in InventoryScan(S3Connection(demo.settings(concurrency=8))).events():
        if isinstance(event, UploadFound):
            found[event.upload.ident] = event.upload
        elif isinstance(event, ScanFinished):
            finished.append(event)
    print(f"inventory scan over HTTP: {time.monotonic() - t0:.2f} s", file=sys.stderr)
    expected = {(u.bucket, u.key, u.upload_id): u for u in seeded(demo)}
    assert found.keys() == expected.keys()
    for ident, u in expected.items():
        got = found[ident]
        assert got.error is None
        assert (got.parts, got.size) == (len(u.parts), u.size), ident
        assert got.initiated == u.initiated
        assert got.last_modified == u.last_modified
    totals = finished[-1].totals
    assert (totals.uploads, totals.parts, totals.size) == (
        demo.seeded.uploads,
        demo.seeded.parts,
        demo.seeded.total_bytes,
    )
    assert totals.failed_buckets == 0


def test_seeding_is_deterministic() -> None:
    assert demo_mod.demo_plan(FIXED) == demo_mod.demo_plan(FIXED)
    later = demo_mod.demo_plan(FIXED + timedelta(days=1))
    first = demo_mod.demo_plan(FIXED)
    assert [u.initiated + timedelta(days=1) for u in first.uploads] == [u.initiated for u in later.uploads]


def test_one_demo_per_process(demo: DemoEndpoint) -> None:
    with pytest.raises(MputuiError, match="already running"):
        start_demo(seed=False)


def test_busy_port_is_a_one_line_error(demo: DemoEndpoint) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mputui", "demo", "--no-seed", "--port", str(demo.port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"mputui: error: cannot start the demo endpoint on 127.0.0.1:{demo.port}: Address already in use"
    ]


def test_missing_moto_tells_how_to_install() -> None:
    code = (
        "import sys; sys.modules['moto'] = None\n"
        "from mputui.demo import start_demo\n"
        "from mputui.s3.errors import MputuiError\n"
        "try:\n    start_demo()\nexcept MputuiError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "the demo endpoint needs moto: pip install 'mputui[demo]'"


def test_foreground_json_line_then_clean_stop() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mputui", "demo", "--json", "--no-seed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"endpoint_url", "access_key", "secret_key", "region", "seeded"}
        assert info["seeded"]["uploads"] == 0
        s3 = boto3.client(
            "s3",
            endpoint_url=info["endpoint_url"],
            region_name=info["region"],
            aws_access_key_id=info["access_key"],
            aws_secret_access_key=info["secret_key"],
        )
        assert s3.list_buckets()["Buckets"] == []  # answering already
        # Uploads made over HTTP report when they were really initiated (moto alone says 2010-11-10).
        s3.create_bucket(Bucket="fresh")
        s3.create_multipart_upload(Bucket="fresh", Key="k", StorageClass="STANDARD_IA")
        (listed,) = s3.list_multipart_uploads(Bucket="fresh")["Uploads"]
        assert abs(listed["Initiated"] - datetime.now(UTC)) < timedelta(minutes=2)
        assert listed["StorageClass"] == "STANDARD_IA"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stdout.read() == ""  # exactly one line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_really_stops_and_a_restart_is_identical(demo: DemoEndpoint) -> None:
    """Runs last in this module: it stops the shared demo."""
    before = [(u.bucket, u.key, u.upload_id, u.initiated, u.size) for u in seeded(demo)]
    port = demo.port
    demo.stop()
    demo.stop()  # idempotent
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    with pytest.raises(OSError):
        conn.request("HEAD", "/")
        conn.getresponse()
    conn.close()
    again = start_demo(now=FIXED)
    try:
        assert [
            (u.bucket, u.key, u.upload_id, u.initiated, u.size) for u in again.seeded.seeded_uploads
        ] == before
    finally:
        again.stop()
