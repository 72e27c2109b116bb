"""``--debug`` logs every request (method, URL, status, attempt, path) and never a credential."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

# moto accepts any credentials: these are recognisable, so a leak of any of them (or of a signature) shows.
ACCESS_KEY = "AKIAMPUTUILEAKCHECK77"
SECRET_KEY = "SECRETmputuiMustNeverAppear0123456789abcd"
TOKEN = "TOKENmputuiMustNeverAppear/session+token=="


def test_debug_log_has_every_request_and_no_credential(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    bucket = bucket_factory()
    ids = make_uploads(moto_server.client(), bucket, ["a", "b", "c"], parts=1)
    env = {
        **moto_server.env(),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": TOKEN,
        "MPUTUI_DEBUG": "1",
    }
    log_file = tmp_path / "debug.log"
    runs = [
        run_cli(None, "ls", env=env),
        run_cli(None, "parts", f"s3://{bucket}/a", "--upload-id", ids[0], env=env),
        run_cli(None, "commit", f"s3://{bucket}/a", "--upload-id", ids[0], "--yes", env=env),
        run_cli(None, "abort", f"s3://{bucket}/", "--all", "--yes", "--log-file", str(log_file), env=env),
        run_cli(None, "ls", f"s3://{bucket}/", "--endpoint-url", "http://127.0.0.1:9", env=env),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 1], [r.stderr for r in runs]
    logged = "".join(r.stdout + r.stderr for r in runs) + log_file.read_text()
    for secret in (ACCESS_KEY, SECRET_KEY, TOKEN, "Signature=", "Credential=", "X-Amz-Security-Token"):
        assert secret not in logged
    lines = [line for line in logged.splitlines() if "mputui: debug: " in line]
    assert any(" lean GET " in line and "?uploads" in line and "-> 200 (attempt 1)" in line for line in lines)
    assert any(
        " boto3 POST " in line and "uploadId=" in line and "-> 200" in line for line in lines
    )  # Complete
    assert any(" lean DELETE " in line and "-> 204" in line for line in lines)
    assert any("error: connection refused" in line and "(attempt 3)" in line for line in lines)
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    # --log-file takes the lines off stderr.
    assert "mputui: debug:" not in runs[3].stderr
    assert " lean DELETE " in log_file.read_text()
