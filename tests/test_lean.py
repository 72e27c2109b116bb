"""The lean list path gives exactly what boto3 gives, on both servers, and signs exactly as botocore does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from test_inventory import make_uploads

from conftest import BucketFactory, S3Server
from mputui.s3.connect import S3Connection
from mputui.s3.errors import describe, is_gone
from mputui.s3.lean import EMPTY_SHA256, SigV4Signer, key_path, parse_list_parts

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    key=_KEYS,
    query=st.lists(
        st.tuples(
            st.sampled_from(["uploadId", "max-parts", "part-number-marker", "prefix", "key-marker"]), _TEXT
        ),
        max_size=4,
        unique_by=lambda kv: kv[0],
    ),
    token=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80),
    region=st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]),
    method=st.sampled_from(["GET", "HEAD", "DELETE"]),
    payer=st.booleans(),
)
def test_signature_matches_botocore(
    key: str, query: list[tuple[str, str]], token: str | None, region: str, method: str, payer: bool
) -> None:
    """Over arbitrary keys, query values and session tokens, the lean signer signs exactly as botocore."""
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    path = "/bucket" + key_path(key)
    url = "http://127.0.0.1:9000" + path
    if query:
        url += "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    extra = {"x-amz-request-payer": "requester"} if payer else None
    request = AWSRequest(
        method=method, url=url, headers={"x-amz-content-sha256": EMPTY_SHA256, **(extra or {})}
    )
    S3SigV4Auth(creds, "s3", region).add_auth(request)
    ours = SigV4Signer().headers(
        method=method,
        host="127.0.0.1:9000",
        path=path,
        query=query,
        region=region,
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        token=token,
        now=datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
        extra=extra,
    )
    assert ours["Authorization"] == request.headers["Authorization"]
    if token:
        assert ours["X-Amz-Security-Token"] == token


def test_parse_list_parts_without_namespace() -> None:
    body = (
        b"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>"
        b"<Part><PartNumber>2</PartNumber><Size>5</Size><ETag>&quot;ab&quot;</ETag>"
        b"<LastModified>2026-01-02T03:04:05.678Z</LastModified></Part></ListPartsResult>"
    )
    parsed = parse_list_parts(body)
    assert parsed["IsTruncated"] is True and parsed["NextPartNumberMarker"] == 2
    assert parsed["Parts"] == [
        {
            "PartNumber": 2,
            "Size": 5,
            "ETag": '"ab"',
            "LastModified": datetime(2026, 1, 2, 3, 4, 5, 678000, UTC),
        }
    ]


def _uploads_view(page: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (u["Key"], u["UploadId"], u["Initiated"].timestamp(), u.get("StorageClass"))
        for u in page.get("Uploads", [])
    ]


def _parts_view(page: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (p["PartNumber"], p["Size"], p["ETag"], p["LastModified"].timestamp()) for p in page.get("Parts", [])
    ]


def test_lean_equals_boto3(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    keys = [
        "plain",
        "a b/c",
        "[b]x[/b]",
        "ü/日本/🚀",
        "rtl\u202e",
        "pct%41",
        "plus+",
        "dot/./seg",
        "a//b",
        "q?x=1&y",
    ]
    if s3_server.kind == "rgw":
        keys += ["new\nline", "tab\tx", "cr\rx"]
    bucket = s3_bucket_factory()
    ids = make_uploads(s3_server.client(), bucket, keys, parts=3)
    lean = S3Connection(s3_server.settings())
    boto = S3Connection(s3_server.settings(lean=False))
    for params in ({"MaxUploads": 1000}, {"MaxUploads": 3}, {"Prefix": "a", "MaxUploads": 1000}):
        a = lean.call(bucket, "list_multipart_uploads", **params)
        b = boto.call(bucket, "list_multipart_uploads", **params)
        assert _uploads_view(a) == _uploads_view(b)
        assert a["IsTruncated"] == b["IsTruncated"]
        assert a.get("NextKeyMarker") == b.get("NextKeyMarker")
    assert {k for k, *_ in _uploads_view(lean.call(bucket, "list_multipart_uploads"))} == set(keys)
    for key, upload_id in zip(keys, ids, strict=True):
        a = lean.call(bucket, "list_parts", Key=key, UploadId=upload_id)
        b = boto.call(bucket, "list_parts", Key=key, UploadId=upload_id)
        assert _parts_view(a) == _parts_view(b) and len(a["Parts"]) == 3
    paged = lean.call(bucket, "list_parts", Key=keys[0], UploadId=ids[0], MaxParts=2)
    assert paged["IsTruncated"] is True and paged["NextPartNumberMarker"] == 2
    rest = lean.call(bucket, "list_parts", Key=keys[0], UploadId=ids[0], MaxParts=2, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert lean.requests >= 3 + len(keys) + 2


def test_lean_errors_look_like_boto3(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    bucket = s3_bucket_factory()
    lean = S3Connection(s3_server.settings())
    with pytest.raises(Exception) as info:
        lean.call(bucket, "list_parts", Key="nope", UploadId="nope")
    assert is_gone(info.value)
    with pytest.raises(Exception) as info:
        lean.call("no-such-bucket-lean", "list_multipart_uploads")
    assert describe(info.value) == "bucket not found"


def test_lean_head_and_abort(s3_server: S3Server, s3_bucket_factory: BucketFactory) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    key = "dir/ä b+[c]"
    client.put_object(Bucket=bucket, Key=key, Body=b"hello")
    lean = S3Connection(s3_server.settings())
    boto = S3Connection(s3_server.settings(lean=False))
    a = lean.call(bucket, "head_object_basic", Key=key)
    b = boto.call(bucket, "head_object_basic", Key=key)
    assert (a["ContentLength"], a["ETag"], a["LastModified"].timestamp()) == (
        b["ContentLength"],
        b["ETag"],
        b["LastModified"].timestamp(),
    )
    with pytest.raises(Exception) as info:
        lean.call(bucket, "head_object_basic", Key="absent")
    assert "404" in str(info.value) or "Not Found" in str(info.value)
    (upload_id,) = make_uploads(client, bucket, [key], parts=1)
    response = lean.call(bucket, "abort_multipart_upload", Key=key, UploadId=upload_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    assert "date" in response["ResponseMetadata"]["HTTPHeaders"]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(Exception) as info:
        lean.call(bucket, "abort_multipart_upload", Key=key, UploadId=upload_id)
    assert is_gone(info.value)
