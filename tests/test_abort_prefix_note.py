"""`abort s3://b/junk --all` is S3's string prefix: it also selects junkyard/* and junk.txt. The confirmation
says so, before the question, so the user can add the / they meant."""

from __future__ import annotations

import pytest
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server, run_cli

KEYS = ["junk", "junk/a", "junk/b", "junkyard/a", "junk.txt", "other"]


@pytest.mark.parametrize(
    ("path", "targets", "beyond"),
    [
        ("junk", 5, ["junk.txt", "junkyard/a"]),
        ("junk/", 2, []),
        ("junkyard/a", 1, []),
        ("", 6, []),
    ],
)
def test_abort_prefix_past_a_slash_boundary_is_named(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, path: str, targets: int, beyond: list[str]
) -> None:
    bucket = s3_bucket_factory()
    client = s3_server.client()
    make_uploads(client, bucket, KEYS, parts=0)
    out = run_cli(s3_server, "abort", f"s3://{bucket}/{path}", "--all", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert f"{targets} upload(s) to abort" in out.stdout
    notes = [line for line in out.stdout.splitlines() if line.startswith("note:")]
    if not beyond:
        assert notes == []
        return
    (note,) = notes
    assert (
        f"note: {path} is a key prefix, not a folder: {len(beyond)} of these are neither {path} nor under {path}/"
        in note
    )
    assert all(key in note for key in beyond)
    assert "end the URL with / to mean the folder" in note
    # Nothing was aborted: it was a dry run.
    assert len(client.list_multipart_uploads(Bucket=bucket)["Uploads"]) == len(KEYS)
