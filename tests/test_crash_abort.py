"""SIGKILL in the middle of a bulk abort: a re-run finishes the job and touches nothing else."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from faultproxy import FaultProxy, Faults
from test_commit_abort import listed_ids
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_killed_bulk_abort_is_finished_by_a_rerun(
    moto_server: S3Server, bucket_factory: BucketFactory, seed: int
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    doomed = set(make_uploads(client, bucket, [f"tmp/{i:03d}" for i in range(120)], parts=1))
    keep = set(make_uploads(client, bucket, [f"keep/{i}" for i in range(5)], parts=1))
    parts = urlsplit(moto_server.url)
    # 30 ms per request so the abort is still running when it is killed.
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80, Faults(latency=0.03)).start()
    env = {**moto_server.env(), "AWS_ENDPOINT_URL": proxy.url}
    cmd = [sys.executable, "-m", "mputui", "abort", f"s3://{bucket}/tmp/", "--all", "--yes", "--json"]
    cmd += ["--concurrency", "4"]
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        # Kill it after a random number of aborts have been reported.
        kill_after = random.Random(seed).randint(5, 60)
        assert proc.stdout is not None
        seen = 0
        deadline = time.monotonic() + 60
        while seen < kill_after and time.monotonic() < deadline:
            if '"type": "aborted"' in proc.stdout.readline():
                seen += 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate(30)
        assert proc.returncode == -signal.SIGKILL
        left = listed_ids(client, bucket)
        assert keep <= left
        assert 0 < len(left - keep) < len(doomed), "the kill should land mid-way"
        rerun = subprocess.run(
            cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
    finally:
        proxy.stop()
    assert listed_ids(client, bucket) == keep
