"""The abort report matches the server when answers are lost: an abort whose DELETE landed but whose answer
never arrived is gone, verified by a listing (retried like the abort), and is reported ``aborted``
(``verified_by_listing``), never ``failed``.

Deterministic faults (the proxy's rule, not a random draw): every DELETE reaches the server and its answer is
lost; the first ListParts of each upload after its DELETE loses its answer too, the next one gets through.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_commit_abort import listed_ids
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

UPLOAD_ID = re.compile(rb"uploadId=([^& ]+)")


def _lossy_rule() -> tuple[dict[str, int], object]:
    deleted: set[bytes] = set()
    verified: set[bytes] = set()
    seen = {"delete": 0, "lost_list_parts": 0}

    def rule(head: bytes) -> str:
        line = head.split(b"\r\n", 1)[0]
        found = UPLOAD_ID.search(line)
        if line.startswith(b"DELETE ") and found:
            deleted.add(found.group(1))
            seen["delete"] += 1
            return "reset_after"
        if (
            line.startswith(b"GET ")
            and found
            and found.group(1) in deleted
            and found.group(1) not in verified
        ):
            verified.add(found.group(1))
            seen["lost_list_parts"] += 1
            return "reset_after"
        return "pass"

    return seen, rule


@pytest.mark.parametrize("count", [1, 12], ids=["single", "bulk"])
@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "boto3"])
def test_an_abort_whose_answers_were_lost_is_reported_as_what_it_is(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, count: int, lean: str
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    ids = set(make_uploads(client, bucket, [f"tmp/{i:02d}" for i in range(count)], parts=1))
    keep = set(make_uploads(client, bucket, ["keep/me"], parts=1))
    seen, rule = _lossy_rule()
    parts = urlsplit(s3_server.url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(), rule=rule).start()  # type: ignore[arg-type]
    # One attempt per call: the job-level retries alone (botocore's would multiply them and the test's time).
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": proxy.url, "MPUTUI_LEAN": lean, "AWS_MAX_ATTEMPTS": "1"}
    try:
        out = run_cli(None, "abort", f"s3://{bucket}/tmp/", "--all", "--yes", "--json", env=env, timeout=300)
    finally:
        proxy.stop()
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert seen["delete"] >= count and seen["lost_list_parts"] == count
    assert listed_ids(client, bucket) == keep  # every DELETE landed
    assert [e for e in events if e["type"] == "failed"] == []
    aborted = [e for e in events if e["type"] == "aborted"]
    assert {e["upload_id"] for e in aborted} == ids
    assert all(e.get("verified_by_listing") is True and e["already_gone"] is False for e in aborted), aborted
    assert out.returncode == 0, out.stderr
