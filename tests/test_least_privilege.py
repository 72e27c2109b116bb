"""A denied request names the IAM action that is missing and the resource, on that bucket only; a denied
bucket never looks empty. On RGW: a second user whom the bucket's policy grants s3:* but one action."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import RGW_SCRIPT, S3Server, empty_bucket, run_cli
from mputui.s3.errors import describe, note_request

LIMITED_USER = "mputui-limited"
LIMITED_KEYS = ("LIMITEDACCESSKEY0001", "limitedsecretkey000000000000000000000001")


@pytest.fixture(scope="session")
def limited_user(rgw_server: S3Server) -> S3Server:
    """A second RGW user (radosgw-admin against the running test cluster), as an S3Server to run mputui as."""
    up = subprocess.run(
        ["bash", str(RGW_SCRIPT), "up"], capture_output=True, text=True, timeout=600, check=True
    )
    conf = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)["CEPH_CONF"]
    admin = shutil.which("radosgw-admin")
    assert admin is not None
    info = subprocess.run([admin, "-c", conf, "user", "info", f"--uid={LIMITED_USER}"], capture_output=True)
    if info.returncode != 0:
        subprocess.run(
            [admin, "-c", conf, "user", "create", f"--uid={LIMITED_USER}", "--display-name=mputui limited",
             f"--access-key={LIMITED_KEYS[0]}", f"--secret-key={LIMITED_KEYS[1]}"],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    return S3Server("rgw", rgw_server.url, *LIMITED_KEYS, region=rgw_server.region)


@pytest.fixture
def denied_bucket(rgw_server: S3Server, limited_user: S3Server) -> Iterator[Callable[[str], tuple[str, str]]]:
    """``deny(action)``: a bucket with one upload of ``dir/a.bin`` (one part) and an object at that key, whose
    policy grants the limited user s3:* except ``action``; (bucket, upload id)."""
    owner = rgw_server.client()
    made: list[str] = []

    def deny(action: str) -> tuple[str, str]:
        bucket = f"lp-{uuid.uuid4().hex[:12]}"
        owner.create_bucket(Bucket=bucket)
        made.append(bucket)
        owner.put_object(Bucket=bucket, Key="dir/a.bin", Body=b"old")
        upload_id = owner.create_multipart_upload(Bucket=bucket, Key="dir/a.bin")["UploadId"]
        owner.upload_part(Bucket=bucket, Key="dir/a.bin", UploadId=upload_id, PartNumber=1, Body=b"x" * 10)
        who = {"AWS": [f"arn:aws:iam:::user/{LIMITED_USER}"]}
        where = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": who, "Action": ["s3:*"], "Resource": where},
                {"Effect": "Deny", "Principal": who, "Action": [action], "Resource": where},
            ],
        }
        owner.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return bucket, upload_id

    yield deny
    for bucket in made:
        try:
            owner.delete_bucket_policy(Bucket=bucket)
            empty_bucket(owner, bucket)
            owner.delete_bucket(Bucket=bucket)
        except ClientError:
            pass  # never hide a test's failure behind its clean-up's


def _one_error_line(proc: Any) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return str(lines[0])


def test_denied_listing_names_the_action_and_the_bucket_is_failed_not_empty(
    limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]
) -> None:
    bucket, upload_id = denied_bucket("s3:ListBucketMultipartUploads")
    needs = f"access denied: needs s3:ListBucketMultipartUploads on arn:aws:s3:::{bucket}"
    listed = run_cli(limited_user, "ls", f"s3://{bucket}", "--json")
    assert listed.returncode == 1
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    [summary] = [r for r in records if r["type"] == "bucket"]
    assert summary["error"] == needs
    assert not [r for r in records if r["type"] == "upload"]
    text = run_cli(limited_user, "ls", f"s3://{bucket}")
    assert text.returncode == 1
    assert f"s3://{bucket}  ERROR: {needs}\n" in text.stdout and "no uploads" not in text.stdout
    for args in (
        ["abort", f"s3://{bucket}", "--all", "-y"],
        ["parts", f"s3://{bucket}/dir/a.bin", "--upload-id", upload_id],
    ):
        proc = run_cli(limited_user, *args)
        assert proc.returncode == 1 and needs in _one_error_line(proc), (args, proc.stdout)


def test_denied_list_parts(limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]) -> None:
    bucket, upload_id = denied_bucket("s3:ListMultipartUploadParts")
    needs = f"access denied: needs s3:ListMultipartUploadParts on arn:aws:s3:::{bucket}/dir/a.bin"
    proc = run_cli(limited_user, "parts", f"s3://{bucket}/dir/a.bin", "--upload-id", upload_id)
    assert proc.returncode == 1 and _one_error_line(proc) == f"mputui: error: {needs}"
    listed = run_cli(limited_user, "ls", f"s3://{bucket}", "--json")
    [upload] = [r for r in map(json.loads, listed.stdout.splitlines()) if r["type"] == "upload"]
    assert (upload["upload_id"], upload["size"], upload["error"]) == (upload_id, None, needs)


def test_denied_abort(limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]) -> None:
    bucket, upload_id = denied_bucket("s3:AbortMultipartUpload")
    needs = f"access denied: needs s3:AbortMultipartUpload on arn:aws:s3:::{bucket}/dir/a.bin"
    proc = run_cli(
        limited_user, "abort", f"s3://{bucket}/dir/a.bin", "--upload-id", upload_id, "-y", "--json"
    )
    assert proc.returncode == 1
    [failed] = [r for r in map(json.loads, proc.stdout.splitlines()) if r["type"] == "failed"]
    assert (failed["upload_id"], failed["error"]) == (upload_id, needs)


def test_denied_commit(limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]) -> None:
    bucket, upload_id = denied_bucket("s3:PutObject")
    needs = f"access denied: needs s3:PutObject on arn:aws:s3:::{bucket}/dir/a.bin"
    # The object the fixture put at the key would refuse the commit first: --overwrite gets it to the Complete.
    proc = run_cli(
        limited_user, "commit", f"s3://{bucket}/dir/a.bin", "--upload-id", upload_id, "-y", "--overwrite"
    )
    assert proc.returncode == 1 and needs in _one_error_line(proc)


def test_denied_get_object(limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]) -> None:
    bucket, upload_id = denied_bucket("s3:GetObject")
    needs = f"access denied: needs s3:GetObject on arn:aws:s3:::{bucket}/dir/a.bin"
    proc = run_cli(limited_user, "commit", f"s3://{bucket}/dir/a.bin", "--upload-id", upload_id, "-y")
    assert proc.returncode == 1 and _one_error_line(proc) == f"mputui: error: {needs}"


# -- pure logic: the wording for operations no command above reaches --------------------------------------


def _denied(
    operation: str, *, status: int = 403, code: str = "AccessDenied", message: str = ""
) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.mark.parametrize(
    ("operation", "params", "region", "expected"),
    [
        (
            "PutBucketLifecycleConfiguration",
            {},
            "us-east-1",
            "access denied: needs s3:PutLifecycleConfiguration on arn:aws:s3:::b",
        ),
        ("ListBuckets", None, "", "access denied: needs s3:ListAllMyBuckets"),
        (
            "CompleteMultipartUpload",
            {"Key": "k"},
            "cn-north-1",
            "access denied: needs s3:PutObject on arn:aws-cn:s3:::b/k",
        ),
        (
            "UploadPartCopy",
            {"Key": "k", "CopySource": {"Bucket": "src", "Key": "s"}},
            "",
            "access denied: needs s3:GetObject on arn:aws:s3:::src/s and s3:PutObject on arn:aws:s3:::b/k",
        ),
    ],
)
def test_denied_wording(operation: str, params: dict[str, Any] | None, region: str, expected: str) -> None:
    exc = _denied(operation)
    if params is not None:
        note_request(exc, "b", params, region)
    assert describe(exc) == expected


def test_denied_head_has_no_body_and_aws_names_its_action() -> None:
    head = _denied("HeadObject", code="403", message="Forbidden")
    note_request(head, "b", {"Key": "k"})
    assert describe(head) == "access denied: needs s3:GetObject on arn:aws:s3:::b/k"
    aws = _denied(
        "ListMultipartUploads",
        message="User: arn:aws:iam::1:user/u is not authorized to perform: s3:ListBucketMultipartUploads on "
        'resource: "arn:aws:s3:::b" because no identity-based policy allows it',
    )
    assert describe(aws) == "access denied: needs s3:ListBucketMultipartUploads on arn:aws:s3:::b"
    # A 403 that says something else keeps its own words.
    assert "signature mismatch" in describe(_denied("ListParts", code="SignatureDoesNotMatch"))


def test_client_of_limited_user_is_really_limited(
    limited_user: S3Server, denied_bucket: Callable[[str], tuple[str, str]]
) -> None:
    """The policy does what the tests above assume: the same user may list when nothing is denied."""
    bucket, upload_id = denied_bucket("s3:PutLifecycleConfiguration")
    client = boto3.client(
        "s3",
        endpoint_url=limited_user.url,
        region_name=limited_user.region,
        aws_access_key_id=limited_user.access_key,
        aws_secret_access_key=limited_user.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    assert [u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    with pytest.raises(ClientError) as denied:
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "x",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )
    note_request(denied.value, bucket, {})
    assert (
        describe(denied.value)
        == f"access denied: needs s3:PutLifecycleConfiguration on arn:aws:s3:::{bucket}"
    )
