"""The ``mputui`` command line, run as a user runs it (a subprocess) against real servers."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_commit_abort import run_cli_at
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_ls_json_lines(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    ids = make_uploads(client, bucket, ["dir/one", "two"], parts=2)
    proc = run_cli(s3_server, "ls", f"s3://{bucket}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = json_lines(proc.stdout)
    uploads = [x for x in lines if x["type"] == "upload"]
    assert {(u["key"], u["upload_id"]) for u in uploads} == {("dir/one", ids[0]), ("two", ids[1])}
    for u in uploads:
        assert (u["bucket"], u["parts"], u["size"], u["error"]) == (bucket, 2, 3, None)
        assert u["initiated"].endswith("Z") and u["last_modified"].endswith("Z")
        assert u["storage_class"] == "STANDARD"
    (b,) = [x for x in lines if x["type"] == "bucket"]
    assert (b["bucket"], b["uploads"], b["parts"], b["size"], b["error"]) == (bucket, 2, 4, 6, None)
    assert b["oldest"] == min(u["initiated"] for u in uploads)
    assert lines[-1] == {
        "type": "total",
        "buckets": 1,
        "uploads": 2,
        "parts": 4,
        "size": 6,
        "unknown_sizes": 0,
        "failed_buckets": 0,
    }


def test_ls_text_table_and_prefix(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    make_uploads(client, bucket, ["logs/a", "logs/b", "other"], parts=1)
    proc = run_cli(s3_server, "ls", f"s3://{bucket}/logs/", "--region", s3_server.region)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"s3://{bucket}" in out
    assert "logs/a" in out and "logs/b" in out and "other" not in out
    assert "= 2 upload(s), 2 part(s), 2 B" in out
    assert out.rstrip().endswith("total: 1 bucket(s), 2 upload(s), 2 part(s), 2 B")


def test_global_options_before_and_after_the_command(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    bucket = s3_bucket_factory()
    env = s3_server.env()
    del env["AWS_ENDPOINT_URL"]
    before = run_cli(None, "--endpoint-url", s3_server.url, "--path-style", "ls", f"s3://{bucket}", env=env)
    after = run_cli(
        None, "ls", f"s3://{bucket}", "--endpoint-url", s3_server.url, "--concurrency", "4", env=env
    )
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert "total: 1 bucket(s), 0 upload(s)" in before.stdout
    assert "total: 1 bucket(s), 0 upload(s)" in after.stdout


def test_ls_older_than_uses_last_activity(moto_server: S3Server, bucket_factory: BucketFactory) -> None:
    """A fresh upload is younger than 1 hour; nothing is older than 1 hour, everything older than 0s."""
    bucket = bucket_factory()
    make_uploads(moto_server.client(), bucket, ["fresh"], parts=1)
    old = json_lines(run_cli(moto_server, "ls", f"s3://{bucket}", "--older-than", "1h", "--json").stdout)
    assert [x for x in old if x["type"] == "upload"] == []
    assert old[-1]["uploads"] == 0
    every = json_lines(run_cli(moto_server, "ls", f"s3://{bucket}", "--older-than", "0s", "--json").stdout)
    assert [x["key"] for x in every if x["type"] == "upload"] == ["fresh"]


@pytest.mark.parametrize(("duration", "days"), [("6mo", 180), ("1y", 365), ("1y6mo", 545)])
def test_ls_older_than_accepts_the_units_ages_are_printed_in(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, duration: str, days: int
) -> None:
    """``mo`` is 30 days and ``y`` 365, as the INITIATED column prints them: seen from just before and just
    after that much idle time, the fresh upload is left out, then listed."""
    bucket = s3_bucket_factory()
    make_uploads(s3_server.client(), bucket, ["idle"], parts=1)
    started = datetime.now(UTC)

    def listed(at: datetime) -> list[str]:
        proc = run_cli_at(s3_server, at, "ls", f"s3://{bucket}", "--older-than", duration, "--json")
        assert proc.returncode == 0, proc.stderr
        return [x["key"] for x in json_lines(proc.stdout) if x["type"] == "upload"]

    assert listed(started + timedelta(days=days - 1)) == []
    assert listed(started + timedelta(days=days, minutes=10)) == ["idle"]


def test_parts_command(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    (upload_id,) = make_uploads(client, bucket, ["k"], parts=3)
    proc = run_cli(s3_server, "parts", f"s3://{bucket}/k", "--upload-id", upload_id, "--json")
    assert proc.returncode == 0, proc.stderr
    parts = json_lines(proc.stdout)
    assert [(p["type"], p["part_number"], p["size"]) for p in parts] == [
        ("part", 1, 1),
        ("part", 2, 2),
        ("part", 3, 3),
    ]
    assert all(len(p["etag"].strip('"')) == 32 and p["last_modified"].endswith("Z") for p in parts)
    assert [(p["flags"], p["missing_before"]) for p in parts] == [(["small-part"], None)] * 2 + [([], None)]
    text = run_cli(s3_server, "parts", f"s3://{bucket}/k", "--upload-id", upload_id)
    assert text.returncode == 0 and "= 3 part(s), 6 B (6 bytes)" in text.stdout
    assert text.stdout.count("<5MiB") == 2 and "⚠ 2 small parts: blocks a commit" in text.stdout


def test_parts_command_flags_what_blocks_a_commit(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    # The same flags and verdict as the TUI's parts pane, from the same plan.
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="gap")["UploadId"]
    for number, body in ((1, b"a" * (5 * 1024 * 1024)), (4, b"tail")):
        client.upload_part(Bucket=bucket, Key="gap", UploadId=upload_id, PartNumber=number, Body=body)
    proc = run_cli(s3_server, "parts", f"s3://{bucket}/gap", "--upload-id", upload_id, "--json")
    assert proc.returncode == 0, proc.stderr
    got = [(p["part_number"], p["flags"], p["missing_before"]) for p in json_lines(proc.stdout)]
    assert got == [(1, [], None), (4, ["gap"], [2, 3])]
    text = run_cli(s3_server, "parts", f"s3://{bucket}/gap", "--upload-id", upload_id)
    assert text.returncode == 0, text.stderr
    rows = text.stdout.splitlines()
    assert rows[0].split() == ["PART", "SIZE", "BYTES", "LAST", "MODIFIED", "FLAG", "ETAG"]
    assert rows[2].split()[0] == "4" and "gap 2-3" in rows[2]
    assert rows[-1].endswith("; ⚠ 1 gap: blocks a commit")


def test_parts_of_a_missing_upload(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    bucket = s3_bucket_factory()
    proc = run_cli(s3_server, "parts", f"s3://{bucket}/k", "--upload-id", "nope")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "no upload 'nope'" in proc.stderr and "Traceback" not in proc.stderr


# --- errors: one line on stderr, the right exit code, never a traceback -------------------------------------


def assert_one_line_error(proc: Any, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mputui: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ls", "--older-than", "7x"], "bad duration '7x'"),
        (["ls", "--older-than", "6mos"], "bad duration '6mos' (use e.g. 90m, 12h, 7d, 2w, 6mo, 1y)"),
        (["ls", "bucket-without-scheme"], "not an S3 URL"),
        (["ls", "s3://"], "no bucket"),
        (["parts", "s3://b"], "--upload-id"),
        (["parts", "s3://b", "--upload-id", "x"], "no object key"),
        (["ls", "--concurrency", "0"], "at least 1"),
        (["--endpoint-url", "not a url", "ls"], "invalid endpoint URL"),
        (["--endpoint-url", "ftp://host", "ls"], "invalid endpoint URL"),
        (["--endpoint-url", "http://host:port", "ls"], "invalid endpoint URL"),
        (["--region", "Not A Region!", "ls"], "invalid region name"),
        (["--profile", "nosuchprofile", "ls"], "unknown profile 'nosuchprofile'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(args: list[str], needle: str) -> None:
    assert_one_line_error(run_cli(None, *args), 2, needle)


def test_connection_refused() -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "1"}
    proc = run_cli(None, "--endpoint-url", "http://127.0.0.1:9", "ls", env=env)
    assert_one_line_error(proc, 1, "connection refused by http://127.0.0.1:9")


def test_no_credentials(s3_server: S3Server, tmp_path: Path) -> None:
    env = {
        k: v for k, v in s3_server.env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    assert_one_line_error(run_cli(None, "ls", env=env), 1, "no credentials found")


def test_unknown_profile_in_environment(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_PROFILE": "ghost"}
    assert_one_line_error(run_cli(None, "ls", env=env), 2, "unknown profile 'ghost'")


def test_bucket_not_found_exits_1(s3_server: S3Server) -> None:
    proc = run_cli(s3_server, "ls", "s3://no-such-bucket-mputui")
    assert proc.returncode == 1
    assert "ERROR: bucket not found" in proc.stdout
    assert "1 bucket(s) failed" in proc.stdout
    js = json_lines(run_cli(s3_server, "ls", "s3://no-such-bucket-mputui", "--json").stdout)
    assert js[0]["type"] == "bucket" and js[0]["error"] == "bucket not found"
    assert js[-1]["failed_buckets"] == 1


def test_wrong_secret_key_on_rgw(rgw_server: S3Server) -> None:
    """moto accepts any credentials, so signature errors are tested on RGW only."""
    env = {**rgw_server.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    proc = run_cli(None, "ls", env=env)
    assert_one_line_error(proc, 1, "signature mismatch")
    assert "wrong-secret" not in proc.stderr + proc.stdout


def test_access_denied_on_rgw(rgw_server: S3Server) -> None:
    """Another user's bucket: ``ls s3://theirs`` reports access denied for that bucket (exit 1)."""
    import subprocess
    import uuid

    conf = Path(os.environ.get("TMPDIR", "/tmp")) / "ceph-rgw-test" / "ceph.conf"
    other_key, other_secret = "OTHERACCESSKEY000001", "othersecret0000000000000000000000000000001"
    subprocess.run(
        [
            "radosgw-admin",
            "-c",
            str(conf),
            "user",
            "create",
            "--uid=other",
            "--display-name=Other",
            f"--access-key={other_key}",
            f"--secret-key={other_secret}",
        ],
        capture_output=True,
        check=False,
    )
    other = S3Server("rgw", rgw_server.url, other_key, other_secret, rgw_server.region).client()
    bucket = "theirs-" + uuid.uuid4().hex[:10]
    other.create_bucket(Bucket=bucket)
    try:
        proc = run_cli(rgw_server, "ls", f"s3://{bucket}", "--json")
        lines = json_lines(proc.stdout)
        assert proc.returncode == 1
        assert (
            lines[0]["error"]
            == f"access denied: needs s3:ListBucketMultipartUploads on arn:aws:s3:::{bucket}"
        )
    finally:
        other.delete_bucket(Bucket=bucket)


def test_hostile_keys_round_trip_exactly_in_json(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    keys = [
        "[b]bold[/b]",
        "[link=http://evil.example]click[/link]",
        "tab\tinside",
        "line\nbreak",
        "carriage\rreturn",
        "rtl\u202eevil.exe",
        "zero\u200bwidth",
        "ünïcödé/日本語/🚀",
        "quote\"and'apostrophe",
        "back\\slash",
        "percent%2Fencoded",
        "plus+and space",
        "<xml>&amp;</xml>",
        "k" * 1000,
        "a",
        "a/",
        "a/b",
    ]
    if s3_server.kind == "moto":
        # moto answers 500 for keys with control characters (see ../shared/tools/ceph-rgw/README.md).
        keys = [k for k in keys if not any(c in k for c in "\t\n\r")]
    bucket = s3_bucket_factory()
    ids = make_uploads(s3_server.client(), bucket, keys, parts=1)
    proc = run_cli(s3_server, "ls", f"s3://{bucket}", "--json")
    assert proc.returncode == 0, proc.stderr
    got = {(x["key"], x["upload_id"]) for x in json_lines(proc.stdout) if x["type"] == "upload"}
    assert got == set(zip(keys, ids, strict=True))
    # The text table renders them without raw control characters.
    text = run_cli(s3_server, "ls", f"s3://{bucket}").stdout
    assert "\x1b" not in text and "\r" not in text and "\t" not in text and "\u202e" not in text
    assert "line␤break" in text or s3_server.kind == "moto"


def test_endpoint_url_from_the_profile(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """An ``endpoint_url`` set in the AWS profile is honoured (no --endpoint-url, no AWS_ENDPOINT_URL)."""
    bucket = bucket_factory()
    config = tmp_path / "config"
    config.write_text(
        f"[profile store]\nendpoint_url = {moto_server.url}\nregion = us-east-1\n"
        f"aws_access_key_id = {moto_server.access_key}\naws_secret_access_key = {moto_server.secret_key}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    proc = run_cli(None, "--profile", "store", "ls", f"s3://{bucket}", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[-1]["buckets"] == 1
