"""A job's identity does not depend on how the endpoint URL is spelled: a re-run through another spelling of the
same endpoint finishes the interrupted job; a record whose endpoint cannot be matched is named."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import BucketFactory, S3Server, run_cli
from mputui.jobs.journal import Journal, clean_endpoint, job_id_for

MIB = 1024 * 1024
SIZE = 18 * MIB  # 4 parts of 5 MiB


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def env_for(server: S3Server, home: Path, endpoint: str | None) -> dict[str, str]:
    env = {**server.env(), "MPUTUI_HOME": str(home / "mputui")}
    if endpoint is None:  # the profile's endpoint_url, not the flag or AWS_ENDPOINT_URL
        env.pop("AWS_ENDPOINT_URL", None)
        config = home / "aws-config-profile"
        config.write_text(f"[profile spelled]\nendpoint_url = {server.url}/\n")
        env.update(AWS_CONFIG_FILE=str(config), AWS_PROFILE="spelled")
    return env


def cp(
    server: S3Server, home: Path, src: str, dst: str, endpoint: str | None, *extra: str, **env: str
) -> Any:
    flag = ("--endpoint-url", endpoint) if endpoint is not None else ()
    return run_cli(
        None, *flag, "cp", src, dst, "--part-size", "5MiB", "--yes", "--json", "--concurrency", "1", *extra,
        env={**env_for(server, home, endpoint), **env},
    )  # fmt: skip


def spellings(url: str) -> dict[str, str | None]:
    parts = urlsplit(url)
    return {
        "trailing slash": f"{url}/",
        "upper-case scheme and host": f"HTTP://{(parts.hostname or '').upper()}:{parts.port}",
        "the profile's URL": None,
    }


def test_every_spelling_of_one_endpoint_is_one_endpoint() -> None:
    same = [
        "https://s3.example.com",
        "https://s3.example.com/",
        "https://s3.example.com:443",
        "HTTPS://S3.Example.COM:443/",
        "https://key:secret@s3.example.com",
    ]
    assert {clean_endpoint(u) for u in same} == {"https://s3.example.com"}
    assert clean_endpoint("http://h:80/base/") == clean_endpoint("http://H/base") == "http://h/base"
    assert clean_endpoint("http://[::1]:8000/") == "http://[::1]:8000"
    assert clean_endpoint("http://h:8080") != clean_endpoint("http://h")
    assert clean_endpoint("https://h:80") == "https://h:80"  # not https's default port
    ids = {job_id_for(u, "s3://a/k", u, "s3://b/k", "e") for u in same}
    assert len(ids) == 1


def crash(server: S3Server, home: Path, src: str, dst: str) -> str:
    """``cp`` through the server's own URL, killed after 2 of 4 parts; the record's id."""
    proc = cp(server, home, src, dst, server.url, MPUTUI_TEST_CRASH_AFTER_PARTS="2")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    (record,) = Journal(home / "mputui" / "state" / "jobs").records()
    assert record.upload_id and len(record.done) == 2
    return record.id


@pytest.mark.parametrize("spelling", ["trailing slash", "upper-case scheme and host", "the profile's URL"])
def test_a_rerun_through_another_spelling_of_the_endpoint_finishes_the_job(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path, spelling: str
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    data = os.urandom(SIZE)
    client.put_object(Bucket=bucket, Key="src", Body=data)
    src, dst = f"s3://{bucket}/src", f"s3://{bucket}/copy"
    job_id = crash(moto_server, tmp_path, src, dst)
    (upload,) = client.list_multipart_uploads(Bucket=bucket)["Uploads"]

    rerun = cp(moto_server, tmp_path, src, dst, spellings(moto_server.url)[spelling])
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    (copied,) = [x for x in json_lines(rerun.stdout) if x["type"] == "copied"]
    assert (copied["resumed"], copied["parts_copied"], copied["job"]) == (True, 2, job_id)
    assert "interrupted job" not in rerun.stderr
    assert client.get_object(Bucket=bucket, Key="copy")["Body"].read() == data
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert Journal(tmp_path / "mputui" / "state" / "jobs").records() == []
    assert upload["UploadId"]  # the one upload there was is the one the re-run completed (none left over)


def test_a_record_written_under_an_older_spelling_is_found(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """Records written before endpoints were spelled one way keep their id (a hash of the spelling) and are
    still found: the re-run recognises the job by what it copies, not by the id."""
    client = moto_server.client()
    bucket = bucket_factory()
    data = os.urandom(SIZE)
    client.put_object(Bucket=bucket, Key="src", Body=data)
    src, dst = f"s3://{bucket}/src", f"s3://{bucket}/copy"
    crash(moto_server, tmp_path, src, dst)
    journal = Journal(tmp_path / "mputui" / "state" / "jobs")
    (record,) = journal.records()
    old_spelling = f"{moto_server.url}/"
    text = "\n".join([old_spelling, src, old_spelling, dst, record.src_etag])
    old_id = hashlib.sha256(text.encode()).hexdigest()[:16]  # the id the old rules gave that spelling
    assert old_id != record.id
    journal.remove(record.id)
    record.id, record.src_endpoint, record.dst_endpoint = old_id, old_spelling, old_spelling
    journal.save(record)

    rerun = cp(moto_server, tmp_path, src, dst, moto_server.url)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    (copied,) = [x for x in json_lines(rerun.stdout) if x["type"] == "copied"]
    assert (copied["resumed"], copied["job"]) == (True, old_id)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert journal.records() == []


def test_a_record_whose_endpoint_cannot_be_matched_is_named(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    client.put_object(Bucket=bucket, Key="src", Body=os.urandom(SIZE))
    src, dst = f"s3://{bucket}/src", f"s3://{bucket}/copy"
    job_id = crash(moto_server, tmp_path, src, dst)
    other_name = moto_server.url.replace("127.0.0.1", "localhost")
    assert other_name != moto_server.url
    plan = cp(moto_server, tmp_path, src, dst, other_name, "--dry-run")
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "an interrupted job for this destination exists: `mputui jobs`" in plan.stderr
    assert job_id in plan.stderr
    same = cp(moto_server, tmp_path, src, dst, f"{moto_server.url}/", "--dry-run")
    assert "interrupted job for this destination" not in same.stderr
    (planned,) = [x for x in json_lines(same.stdout) if x["type"] == "planned"]
    assert planned["action"] == "resume"
