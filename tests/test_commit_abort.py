"""``mputui commit`` and ``mputui abort`` against real servers: safety first, exact targets, races."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import BucketFactory, S3Server, run_cli
from mputui.s3.actions import abort_upload
from mputui.s3.commit import complete_upload, load_plan
from mputui.s3.connect import S3Connection
from mputui.s3.models import Upload

MiB = 1024 * 1024
BLOCK = os.urandom(5 * MiB + 123)


def part_body(n: int, size: int = 5 * MiB) -> bytes:
    """Distinct deterministic bytes for part ``n``."""
    head = n.to_bytes(4, "big")
    return (head + BLOCK)[:size]


def make_upload(client: Any, bucket: str, key: str, sizes: dict[int, int]) -> tuple[str, bytes]:
    """An upload with the given {part number: size}; returns (upload id, the bytes in part order)."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    data = b""
    for n in sorted(sizes):
        body = part_body(n, sizes[n])
        client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)
        data += body
    return upload_id, data


def listed_ids(client: Any, bucket: str) -> set[str]:
    return {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def upload_times(client: Any, bucket: str) -> dict[str, tuple[datetime, datetime]]:
    """Per upload id, as the server reports them: (initiated, last activity = the newest part or initiated)."""
    times = {}
    for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        parts = client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])
        times[u["UploadId"]] = (u["Initiated"], max([u["Initiated"], *(p["LastModified"] for p in parts)]))
    return times


def cutoff_between(older: Iterable[datetime], newer: Iterable[datetime]) -> datetime:
    """A time after every ``older`` one and before every ``newer`` one (server timestamps)."""
    last, first = max(older), min(newer)
    assert last < first, (last, first)
    return last + (first - last) / 2


# ``python -c`` this, then NOW and the CLI's arguments: the CLI with its clock stopped at NOW.
_CLI_AT = """
import sys
from datetime import datetime

import mputui.cli

fixed = datetime.fromisoformat(sys.argv.pop(1))


class Clock(datetime):
    @classmethod
    def now(cls, tz=None):
        return fixed.astimezone(tz)


assert mputui.cli.datetime is datetime, "the CLI's clock moved: the tests' fixed clock must follow it"
mputui.cli.datetime = Clock
from mputui.__main__ import main

main()
"""


def run_cli_at(server: S3Server | None, now: datetime, *args: str, env: dict[str, str] | None = None) -> Any:
    """``run_cli`` with the CLI's "now" (what ``--older-than`` counts from) fixed: which uploads are old enough
    is decided by the server's timestamps alone, not by how long the CLI took to start on a busy machine."""
    return subprocess.run(
        [sys.executable, "-c", _CLI_AT, now.isoformat(), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env if env is not None else (server.env() if server else dict(os.environ)),
        timeout=120,
        check=False,
    )


def has_object(client: Any, bucket: str, key: str) -> bool:
    return bool(client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"))


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- commit ------------------------------------------------------------------------------------------------


def test_commit_happy_path_is_bytes_identical(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "big.bin", {1: 5 * MiB, 2: 5 * MiB, 3: 1000})
    proc = run_cli(s3_server, "commit", f"s3://{bucket}/big.bin", "--upload-id", upload_id, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    plan, done = json_lines(proc.stdout)
    md5s = [hashlib.md5(part_body(n, s)).digest() for n, s in ((1, 5 * MiB), (2, 5 * MiB), (3, 1000))]
    expected_etag = hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    assert (plan["type"], plan["parts"], plan["size"], plan["etag"], plan["problems"]) == (
        "plan",
        3,
        len(data),
        expected_etag,
        [],
    )
    assert (done["type"], done["size"], done["etag"], done["verified"]) == (
        "committed",
        len(data),
        expected_etag,
        True,
    )
    assert client.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    assert upload_id not in listed_ids(client, bucket)


def test_gap_is_refused_and_contiguous_prefix_commits_parts_before_it(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, _ = make_upload(client, bucket, "gap", {1: 5 * MiB, 2: 5 * MiB, 4: 100})
    refused = run_cli(s3_server, "commit", f"s3://{bucket}/gap", "--upload-id", upload_id, "--yes")
    assert refused.returncode == 1
    assert "gap in part numbers: missing 3" in refused.stdout + refused.stderr
    assert "--contiguous-prefix" in refused.stdout
    assert upload_id in listed_ids(client, bucket) and not has_object(client, bucket, "gap")
    plan = json.loads(
        run_cli(
            s3_server, "commit", f"s3://{bucket}/gap", "--upload-id", upload_id, "--dry-run", "--json"
        ).stdout.splitlines()[0]
    )
    assert plan["problem_codes"] == ["gap"] and "missing 3" in plan["problems"][0]

    ok = run_cli(
        s3_server, "commit", f"s3://{bucket}/gap", "--upload-id", upload_id, "--contiguous-prefix", "--yes"
    )
    assert "discarded: 1 part(s) after the first gap" in ok.stdout
    if s3_server.kind == "rgw":
        # RGW refuses a complete that leaves out uploaded parts: reported plainly, nothing changed.
        assert ok.returncode == 1
        assert "Ceph RGW requires all of them); nothing changed" in ok.stderr
        assert upload_id in listed_ids(client, bucket) and not has_object(client, bucket, "gap")
        return
    assert ok.returncode == 0, ok.stderr
    body = client.get_object(Bucket=bucket, Key="gap")["Body"].read()
    assert body == part_body(1) + part_body(2)


def test_small_non_last_part_is_refused_and_nothing_changes(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, _ = make_upload(client, bucket, "small", {1: 1024, 2: 1024})
    proc = run_cli(s3_server, "commit", f"s3://{bucket}/small", "--upload-id", upload_id, "--yes")
    assert proc.returncode == 1
    assert "non-last part(s) under 5 MiB: 1" in proc.stdout
    assert upload_id in listed_ids(client, bucket)
    assert not has_object(client, bucket, "small")


def test_verify_file_match_and_mismatch(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "v", {1: 5 * MiB, 2: 777})
    bad = tmp_path / "bad"
    bad.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    short = tmp_path / "short"
    short.write_bytes(data[: 5 * MiB])
    good = tmp_path / "good"
    good.write_bytes(data)
    url = f"s3://{bucket}/v"

    mismatch = run_cli(s3_server, "commit", url, "--upload-id", upload_id, "--verify-file", str(bad), "--yes")
    assert mismatch.returncode == 1 and "parts 1 differ" in mismatch.stderr
    too_short = run_cli(
        s3_server, "commit", url, "--upload-id", upload_id, "--verify-file", str(short), "--yes"
    )
    assert too_short.returncode == 1 and "shorter than the parts" in too_short.stderr
    assert upload_id in listed_ids(client, bucket) and not has_object(client, bucket, "v")

    match = run_cli(
        s3_server, "commit", url, "--upload-id", upload_id, "--verify-file", str(good), "--yes", "--json"
    )
    assert match.returncode == 0, match.stderr
    plan, done = json_lines(match.stdout)
    assert plan["verify"]["matching"] == 2 and plan["verify"]["ok"] is True
    assert plan["verify"]["local_etag"] == plan["etag"] == done["etag"]
    assert client.get_object(Bucket=bucket, Key="v")["Body"].read() == data


def test_commit_dry_run_and_read_only_change_nothing(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, _ = make_upload(client, bucket, "d", {1: 5 * MiB, 2: 10})
    dry = run_cli(s3_server, "commit", f"s3://{bucket}/d", "--upload-id", upload_id, "--dry-run")
    assert dry.returncode == 0 and "dry run: nothing committed" in dry.stdout
    ro = run_cli(s3_server, "--read-only", "commit", f"s3://{bucket}/d", "--upload-id", upload_id, "--yes")
    assert ro.returncode == 2 and "--read-only" in ro.stderr
    no_tty = run_cli(s3_server, "commit", f"s3://{bucket}/d", "--upload-id", upload_id)
    assert no_tty.returncode == 2 and "refusing to commit without --yes" in no_tty.stderr
    assert upload_id in listed_ids(client, bucket) and not has_object(client, bucket, "d")


def test_commit_warns_when_it_replaces_an_object(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    client.put_object(Bucket=bucket, Key="r", Body=b"old")
    upload_id, _ = make_upload(client, bucket, "r", {1: 10})
    url = f"s3://{bucket}/r"
    proc = run_cli(s3_server, "commit", url, "--upload-id", upload_id, "--dry-run")
    assert proc.returncode == 1 and "EXISTS:    an object exists at this key (3 B, " in proc.stdout
    proc = run_cli(s3_server, "commit", url, "--upload-id", upload_id, "--dry-run", "--overwrite")
    assert proc.returncode == 0
    assert (
        "WARNING:   an object exists at this key (3 B, " in proc.stdout
        and "and will be replaced" in proc.stdout
    )


@pytest.mark.parametrize("round_", range(3))
def test_commit_racing_abort_exactly_one_wins(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, round_: int
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, data = make_upload(client, bucket, "race", {1: 5 * MiB, 2: 10})
    conn = S3Connection(s3_server.settings())
    plan = load_plan(conn, bucket, "race", upload_id)
    upload = Upload(bucket=bucket, key="race", upload_id=upload_id, initiated=plan.parts[0].last_modified)  # type: ignore[arg-type]
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def commit() -> None:
        barrier.wait()
        if round_ == 1:
            time.sleep(0.01)
        results["commit"] = complete_upload(conn, plan)

    def abort() -> None:
        barrier.wait()
        if round_ == 2:
            time.sleep(0.01)
        results["abort"] = abort_upload(conn, upload)

    threads = [threading.Thread(target=commit), threading.Thread(target=abort)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    c, a = results["commit"], results["abort"]
    if c.ok and a.ok:
        # Ceph RGW 16.2 can accept both (and later loses the object): mputui's abort must say so plainly.
        assert s3_server.kind == "rgw", (c, a)
        assert a.raced_commit and "the server accepted both" in (a.error or "")
        assert upload_id not in listed_ids(client, bucket)
        return
    assert not a.raced_commit
    assert c.ok != a.ok, (c, a)
    if c.ok:
        assert a.already_gone and a.status == "already gone"
        assert client.get_object(Bucket=bucket, Key="race")["Body"].read() == data
    else:
        assert c.status == "already gone" and "aborted or completed by someone else" in (c.error or "")
        assert not has_object(client, bucket, "race")
    assert upload_id not in listed_ids(client, bucket)


# --- abort -------------------------------------------------------------------------------------------------


def test_abort_one_exact_upload(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    keep, _ = make_upload(client, bucket, "same", {1: 10})
    target, _ = make_upload(client, bucket, "same", {1: 20})
    other, _ = make_upload(client, bucket, "same-prefix-longer", {1: 30})
    proc = run_cli(s3_server, "abort", f"s3://{bucket}/same", "--upload-id", target, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line == {
        "type": "aborted",
        "bucket": bucket,
        "key": "same",
        "upload_id": target,
        "size": 20,
        "already_gone": False,
        "verified": True,
    }
    assert listed_ids(client, bucket) == {keep, other}
    again = run_cli(s3_server, "abort", f"s3://{bucket}/same", "--upload-id", target, "--yes")
    assert again.returncode == 1 and "already gone?" in again.stderr


def test_abort_all_under_a_prefix_only(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    inside = [make_upload(client, bucket, f"tmp/{i}", {1: 5})[0] for i in range(12)]
    outside = make_upload(client, bucket, "keep/1", {1: 5})[0]
    dry = run_cli(s3_server, "abort", f"s3://{bucket}/tmp/", "--all", "--dry-run", "--json")
    assert dry.returncode == 0
    assert {x["upload_id"] for x in json_lines(dry.stdout) if x["type"] == "would_abort"} == set(inside)
    assert listed_ids(client, bucket) == {*inside, outside}
    proc = run_cli(
        s3_server, "abort", f"s3://{bucket}/tmp/", "--all", "--yes", "--json", "--concurrency", "4"
    )
    assert proc.returncode == 0, proc.stderr
    assert {x["upload_id"] for x in json_lines(proc.stdout) if x["type"] == "aborted"} == set(inside)
    assert listed_ids(client, bucket) == {outside}


def test_abort_older_than_skips_active_uploads(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    active = client.create_multipart_upload(Bucket=bucket, Key="active")["UploadId"]
    stale = client.create_multipart_upload(Bucket=bucket, Key="stale")["UploadId"]
    time.sleep(1.5)  # server timestamps may be whole seconds: what follows is then at least 1 s newer
    client.upload_part(Bucket=bucket, Key="active", UploadId=active, PartNumber=1, Body=b"new")
    fresh = client.create_multipart_upload(Bucket=bucket, Key="fresh")["UploadId"]
    times = upload_times(client, bucket)
    # The CLI's clock is set 2 s after a cut-off between the old and the new timestamps.
    cutoff = cutoff_between([times[stale][1], times[active][0]], [times[active][1], times[fresh][0]])
    proc = run_cli_at(
        s3_server, cutoff + timedelta(seconds=2), "abort", f"s3://{bucket}", "--older-than", "2s", "--yes"
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 upload(s) initiated before the cut-off but with a part newer than 2s" in proc.stdout
    assert listed_ids(client, bucket) == {active, fresh}
    assert stale not in listed_ids(client, bucket)


def test_abort_refuses_without_yes_when_not_a_tty(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, _ = make_upload(client, bucket, "x", {1: 5})
    proc = run_cli(s3_server, "abort", f"s3://{bucket}", "--all")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("refusing to abort without --yes: stdin is not a terminal")
    ro = run_cli(s3_server, "--read-only", "abort", f"s3://{bucket}", "--all", "--yes")
    assert ro.returncode == 2 and "--read-only" in ro.stderr
    assert listed_ids(client, bucket) == {upload_id}


def test_abort_usage_errors() -> None:
    proc = run_cli(None, "abort", "s3://bucket")
    assert (
        proc.returncode == 2
        and "one of the arguments --upload-id --older-than --all is required" in proc.stderr
    )
    proc = run_cli(None, "abort", "s3://bucket", "--upload-id", "x")
    assert proc.returncode == 2 and "--upload-id needs the upload's key" in proc.stderr


def test_abort_reports_a_commit_that_landed_at_the_same_moment(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    """Ceph RGW can accept an abort and a commit of one upload at once; the abort's follow-up HEAD tells."""
    from datetime import UTC
    from email.utils import format_datetime

    from mputui.s3.actions import confirm_abort

    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id, _ = make_upload(client, bucket, "k", {1: 5 * MiB, 2: 10})
    parts = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    client.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]},
    )
    conn = S3Connection(s3_server.settings())
    upload = Upload(bucket=bucket, key="k", upload_id=upload_id, initiated=parts[0]["LastModified"])
    now = client.head_object(Bucket=bucket, Key="k")["LastModified"]

    def response(at: Any) -> dict[str, Any]:
        return {
            "ResponseMetadata": {"HTTPHeaders": {"date": format_datetime(at.astimezone(UTC), usegmt=True)}}
        }

    raced = confirm_abort(conn, upload, response(now))
    assert raced.ok and raced.raced_commit and "accepted both" in (raced.error or "")
    from datetime import timedelta

    later = confirm_abort(conn, upload, response(now + timedelta(minutes=5)))
    assert later.ok and not later.raced_commit and later.error is None
    gone = confirm_abort(
        conn, Upload(bucket=bucket, key="absent", upload_id="x", initiated=now), response(now)
    )
    assert gone.ok and not gone.raced_commit
    # Another upload of the same key, with more parts than the object has, cannot be what was committed
    # (servers refuse a commit of fewer parts than uploaded, and parts are never removed): no false alarm.
    other = Upload(bucket=bucket, key="k", upload_id="other", initiated=now, parts=3)
    assert not confirm_abort(conn, other, response(now)).raced_commit
    same_count = Upload(bucket=bucket, key="k", upload_id="other", initiated=now, parts=2)
    assert confirm_abort(conn, same_count, response(now)).raced_commit
