"""Uploads created with a checksum algorithm (what the AWS SDKs and aws-cli do by default since 2025).

Listing is tested on moto directly (it lists ``ChecksumAlgorithm``/``ChecksumType``) and on Ceph RGW (ordinary
uploads, unchanged). The whole flow — parts listed with their checksums, commit, verify, resume — goes through
``awsrules.AwsRulesProxy``, a proxy in front of moto that lists part checksums and refuses what AWS refuses.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from awsrules import AwsRulesProxy
from botocore.httpchecksum import _CHECKSUM_CLS

from conftest import BucketFactory, S3Server, run_cli
from mputui.formatting import commit_plan_lines, parts_summary, verification_summary
from mputui.s3.checksums import (
    CHECKSUM_ALGORITHMS,
    checksum_of,
    effective_checksum_type,
    full_object_checksum,
    verify_file,
)
from mputui.s3.commit import complete_upload, completed_part, load_plan, plan_commit
from mputui.s3.connect import S3Connection
from mputui.s3.inventory import InventoryScan, list_parts
from mputui.s3.lean import parse_list_parts, parse_list_uploads
from mputui.s3.models import Part, UploadFound

MIB = 1024 * 1024
PART = 5 * MIB
BLOCK = os.urandom(PART + 7)


def body(n: int, size: int = PART) -> bytes:
    return (n.to_bytes(4, "big") + BLOCK)[:size]


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def sdk_checksum(algorithm: str, data: bytes) -> str:
    """The checksum as botocore computes it."""
    if algorithm == "MD5":
        return base64.b64encode(hashlib.md5(data).digest()).decode()
    return str(_CHECKSUM_CLS[algorithm.lower()]().handle(data))


def start_upload(
    client: Any, bucket: str, key: str, algorithm: str, kind: str | None, parts: dict[int, bytes]
) -> tuple[str, dict[int, str]]:
    """An upload created with ``algorithm`` (and ``kind``) whose parts boto3 sent with their checksums, as the
    SDKs do; returns (upload id, the part checksums the server answered)."""
    extra = {"ChecksumType": kind} if kind else {}
    upload_id: str = client.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra
    )["UploadId"]
    sums = {}
    for n, data in parts.items():
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data, ChecksumAlgorithm=algorithm
        )
        sums[n] = answer["Checksum" + algorithm]
    return upload_id, sums


@pytest.fixture
def rules(moto_server: S3Server) -> Iterator[tuple[AwsRulesProxy, S3Server]]:
    """The AWS-rules proxy in front of moto, and a server description pointing at it."""
    host, port = moto_server.url.removeprefix("http://").rsplit(":", 1)
    proxy = AwsRulesProxy(host, int(port)).start()
    try:
        yield proxy, dataclasses.replace(moto_server, url=proxy.url)
    finally:
        proxy.stop()


# --- pure logic ----------------------------------------------------------------------------------------------


def test_checksums_are_the_sdks_for_every_algorithm_botocore_computes() -> None:
    data = os.urandom(3 * MIB + 11)
    for algorithm in CHECKSUM_ALGORITHMS:
        assert checksum_of(algorithm, data) == sdk_checksum(algorithm, data), algorithm
    assert checksum_of("FOO128", data) is None


def test_full_object_checksum_combines_part_crcs() -> None:
    data = os.urandom(2 * MIB + 5)
    pieces = [data[: MIB + 1], data[MIB + 1 : 2 * MIB], data[2 * MIB :]]
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME"):
        parts = [
            Part(n, len(p), '"x"', None, algorithm, checksum_of(algorithm, p))
            for n, p in enumerate(pieces, 1)
        ]
        assert full_object_checksum(algorithm, parts) == sdk_checksum(algorithm, data)
        assert (
            full_object_checksum(algorithm, [*parts[:2], dataclasses.replace(parts[2], checksum=None)])
            is None
        )
        assert (
            full_object_checksum(algorithm, [dataclasses.replace(parts[0], checksum="not base64!")]) is None
        )
    sha = [Part(1, 3, '"x"', None, "SHA256", checksum_of("SHA256", b"abc"))]
    assert full_object_checksum("SHA256", sha) is None  # no full-object SHA: only CRCs combine


def test_checksum_type_defaults_follow_s3() -> None:
    assert effective_checksum_type(None, None) is None
    assert effective_checksum_type("CRC32", None) == "COMPOSITE"
    assert effective_checksum_type("CRC64NVME", None) == "FULL_OBJECT"
    assert effective_checksum_type("CRC32", "FULL_OBJECT") == "FULL_OBJECT"


def test_lean_parsers_keep_checksum_fields() -> None:
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    parts = parse_list_parts(
        f"<ListPartsResult {ns}><UploadId>u</UploadId><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
        "<Part><PartNumber>1</PartNumber><ETag>&quot;e&quot;</ETag><Size>3</Size>"
        "<ChecksumCRC32>NSRBwg==</ChecksumCRC32></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>&quot;f&quot;</ETag><Size>3</Size></Part>"
        "<IsTruncated>false</IsTruncated></ListPartsResult>".encode()
    )
    assert parts["Parts"][0]["ChecksumCRC32"] == "NSRBwg=="
    assert not any(k.startswith("Checksum") for k in parts["Parts"][1])
    uploads = parse_list_uploads(
        f"<ListMultipartUploadsResult {ns}><Upload><Key>k</Key><UploadId>u</UploadId>"
        "<Initiated>2026-01-01T00:00:00.000Z</Initiated><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>"
        "<ChecksumType>FULL_OBJECT</ChecksumType></Upload><Upload><Key>j</Key><UploadId>v</UploadId>"
        "<Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload>"
        "<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>".encode()
    )
    first, second = uploads["Uploads"]
    assert (first["ChecksumAlgorithm"], first["ChecksumType"]) == ("CRC64NVME", "FULL_OBJECT")
    assert "ChecksumAlgorithm" not in second


def test_completed_part_sends_the_listed_checksum_even_one_not_computable_here() -> None:
    plain = Part(1, 5, '"e"', None)
    assert completed_part(plain) == {"PartNumber": 1, "ETag": '"e"'}
    odd = Part(2, 5, '"f"', None, "XXHASH999", "AAAA")
    assert completed_part(odd) == {"PartNumber": 2, "ETag": '"f"', "ChecksumXXHASH999": "AAAA"}


def test_verify_file_says_when_the_algorithm_cannot_be_checked(tmp_path: Path) -> None:
    data = body(1, 1000) + body(2, 500)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    md5s = [hashlib.md5(data[:1000]).hexdigest(), hashlib.md5(data[1000:]).hexdigest()]
    parts = [Part(1, 1000, f'"{md5s[0]}"', None, "XXHASH999", "AAAA"), Part(2, 500, f'"{md5s[1]}"', None)]
    result = verify_file(path, parts, algorithm="XXHASH999")
    assert result.ok and result.checksums_compared == 0
    assert (
        result.checksum_note == "XXHASH999 checksums cannot be computed locally: parts verified by MD5 only"
    )
    assert "XXHASH999 checksums cannot be computed locally" in verification_summary(result)


def test_verify_file_checks_the_checksum_where_the_etag_is_not_an_md5(tmp_path: Path) -> None:
    # An SSE-KMS upload's ETags are not MD5s; its checksums still prove (or disprove) each part.
    data = body(1, 1000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    good = Part(1, 1000, '"not-an-md5"', None, "SHA256", sdk_checksum("SHA256", data))
    assert verify_file(path, [good]).ok
    bad = dataclasses.replace(good, checksum=sdk_checksum("SHA256", b"other"))
    result = verify_file(path, [bad])
    assert not result.ok and result.mismatching == (1,)
    assert result.parts[0].checksum_status == "mismatch"


def test_plan_lines_and_summary_name_the_checksum() -> None:
    parts = [Part(1, PART, '"e"', None, "CRC32", "AAAAAA=="), Part(2, 10, '"f"', None, "CRC32", "AAAAAA==")]
    plan = plan_commit("b", "k", "u", parts, checksum_algorithm="CRC32", checksum_type=None)
    assert (plan.checksum_algorithm, plan.checksum_type, plan.checksum) == ("CRC32", "COMPOSITE", None)
    lines = [line.text for line in commit_plan_lines(plan)]
    assert "checksum:  CRC32 composite, each part's listed checksum is sent" in lines
    assert parts_summary(plan)[0] == "2 parts · 5.0 MiB · CRC32 composite · parts look committable"
    bare = plan_commit("b", "k", "u", [Part(1, 10, '"e"', None)], checksum_algorithm="SHA1")
    assert "checksum:  SHA1 composite; the server lists no part checksums: none are sent" in [
        line.text for line in commit_plan_lines(bare)
    ]
    ordinary = plan_commit("b", "k", "u", [Part(1, 10, '"e"', None)])
    assert not any("checksum" in line.text for line in commit_plan_lines(ordinary))


# --- moto directly: listing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lean", ["1", "0"])
def test_ls_shows_the_algorithm_and_type_on_moto(
    moto_server: S3Server, bucket_factory: BucketFactory, lean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPUTUI_LEAN", lean)
    client = moto_server.client()
    bucket = bucket_factory()
    cases = {
        "crc32.bin": ("CRC32", None, "COMPOSITE"),
        "crc32c.bin": ("CRC32C", "FULL_OBJECT", "FULL_OBJECT"),
        "nvme.bin": ("CRC64NVME", "FULL_OBJECT", "FULL_OBJECT"),
        "sha256.bin": ("SHA256", "COMPOSITE", "COMPOSITE"),
    }
    for key, (algorithm, kind, _) in cases.items():
        start_upload(client, bucket, key, algorithm, kind, {1: b"abc"})
    client.create_multipart_upload(Bucket=bucket, Key="plain.bin")
    events = list(InventoryScan(S3Connection(moto_server.settings()), bucket=bucket).events())
    found = {e.upload.key: e.upload for e in events if isinstance(e, UploadFound)}
    for key, (algorithm, kind, _) in cases.items():
        assert (found[key].checksum_algorithm, found[key].checksum_type) == (algorithm, kind)
    assert (found["plain.bin"].checksum_algorithm, found["plain.bin"].checksum_type) == (None, None)

    env = {**moto_server.env(), "MPUTUI_LEAN": lean}
    proc = run_cli(moto_server, "ls", f"s3://{bucket}", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {x["key"]: x for x in json_lines(proc.stdout) if x["type"] == "upload"}
    for key, (algorithm, _, effective) in cases.items():
        assert (rows[key]["checksum_algorithm"], rows[key]["checksum_type"]) == (algorithm, effective)
    assert (rows["plain.bin"]["checksum_algorithm"], rows["plain.bin"]["checksum_type"]) == (None, None)
    text = run_cli(moto_server, "ls", f"s3://{bucket}", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "CHECKSUM" in lines[1]
    row = {line.split()[-1]: line for line in lines[2:] if line.strip().endswith(".bin")}
    assert "CRC64NVME full-object" in row["nvme.bin"] and "CRC32 composite" in row["crc32.bin"]
    assert " - " in row["plain.bin"]


def test_ls_and_parts_of_ordinary_uploads_are_unchanged(
    s3_server: S3Server, s3_bucket_factory: BucketFactory
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="plain.bin")["UploadId"]
    client.upload_part(Bucket=bucket, Key="plain.bin", UploadId=upload_id, PartNumber=1, Body=b"abc")
    text = run_cli(s3_server, "ls", f"s3://{bucket}")
    assert text.returncode == 0, text.stderr
    assert "CHECKSUM" not in text.stdout and "INITIATED" in text.stdout
    rows = json_lines(run_cli(s3_server, "ls", f"s3://{bucket}", "--json").stdout)
    (row,) = [x for x in rows if x["type"] == "upload"]
    assert (row["checksum_algorithm"], row["checksum_type"]) == (None, None)
    parts = run_cli(s3_server, "parts", f"s3://{bucket}/plain.bin", "--upload-id", upload_id)
    assert parts.returncode == 0, parts.stderr
    assert "checksum" not in parts.stdout.lower()
    (part,) = json_lines(
        run_cli(s3_server, "parts", f"s3://{bucket}/plain.bin", "--upload-id", upload_id, "--json").stdout
    )
    assert (part["checksum_algorithm"], part["checksum"]) == (None, None)


# --- through the AWS-rules double ----------------------------------------------------------------------------


def test_the_double_refuses_what_aws_refuses(
    rules: tuple[AwsRulesProxy, S3Server], bucket_factory: BucketFactory
) -> None:
    _proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    upload_id, sums = start_upload(client, bucket, "k", "CRC32", None, {1: body(1)})
    with pytest.raises(
        client.exceptions.ClientError, match="expected checksum Type: crc32, actual checksum Type: sha256"
    ):
        client.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"x", ChecksumAlgorithm="SHA256"
        )
    # A client that adds no checksum of its own (boto3's default adds a CRC32 to every part).
    bare = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=botocore.config.Config(
            s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
        ),
    )
    with pytest.raises(
        client.exceptions.ClientError, match="expected checksum Type: crc32, actual checksum Type: null"
    ):
        bare.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"x")
    with pytest.raises(client.exceptions.ClientError, match="BadDigest"):
        bare.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"x", ChecksumCRC32="AAAAAA=="
        )
    listed = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert listed["Parts"][0]["ChecksumCRC32"] == sums[1] == sdk_checksum("CRC32", body(1))
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ("CRC32", "COMPOSITE")
    etag = listed["Parts"][0]["ETag"]
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidRequest"
    assert refused.value.response["Error"]["Message"] == (
        "The upload was created using a crc32 checksum. The complete request must include the checksum for each "
        "part. It was missing for part 1 in the request."
    )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        ("CRC32", None),
        ("CRC32C", None),
        ("SHA256", None),
        ("CRC64NVME", "FULL_OBJECT"),
        ("CRC32", "FULL_OBJECT"),
    ],
)
def test_parts_and_commit_send_each_parts_checksum(
    rules: tuple[AwsRulesProxy, S3Server], bucket_factory: BucketFactory, algorithm: str, kind: str | None
) -> None:
    proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    parts = {1: body(1), 2: body(2), 3: body(3, 1234)}
    upload_id, sums = start_upload(client, bucket, "obj.bin", algorithm, kind, parts)
    effective = kind or "COMPOSITE"

    listing = json_lines(
        run_cli(server, "parts", f"s3://{bucket}/obj.bin", "--upload-id", upload_id, "--json").stdout
    )
    assert [(x["part_number"], x["checksum_algorithm"], x["checksum"]) for x in listing] == [
        (n, algorithm, sums[n]) for n in (1, 2, 3)
    ]
    text = run_cli(server, "parts", f"s3://{bucket}/obj.bin", "--upload-id", upload_id)
    assert text.returncode == 0, text.stderr
    label = f"{algorithm} {'full-object' if effective == 'FULL_OBJECT' else 'composite'}"
    assert text.stdout.splitlines()[0] == f"checksum: {label}"
    assert "CHECKSUM" in text.stdout.splitlines()[1] and sums[2] in text.stdout

    proc = run_cli(server, "commit", f"s3://{bucket}/obj.bin", "--upload-id", upload_id, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    plan, done = json_lines(proc.stdout)
    assert (plan["checksum_algorithm"], plan["checksum_type"], plan["parts_with_checksum"]) == (
        algorithm,
        effective,
        3,
    )
    whole = b"".join(parts[n] for n in (1, 2, 3))
    full = sdk_checksum(algorithm, whole) if effective == "FULL_OBJECT" else None
    assert plan["checksum"] == full
    assert done["type"] == "committed" and done["verified"] is True
    assert proxy.refused == []
    (xml, headers) = proxy.completed[-1]
    for n in (1, 2, 3):
        assert f"<Checksum{algorithm}>{sums[n]}</Checksum{algorithm}>".encode() in xml
    if full is not None:
        assert headers[f"x-amz-checksum-{algorithm.lower()}"] == full
        assert headers["x-amz-checksum-type"] == "FULL_OBJECT"
    else:
        assert not any(h.startswith(f"x-amz-checksum-{algorithm.lower()}") for h in headers)
    assert client.get_object(Bucket=bucket, Key="obj.bin")["Body"].read() == whole


def test_a_wrong_part_checksum_is_refused_and_reported(
    rules: tuple[AwsRulesProxy, S3Server], bucket_factory: BucketFactory
) -> None:
    proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    upload_id, _ = start_upload(client, bucket, "k", "SHA256", None, {1: body(1), 2: body(2, 10)})
    conn = S3Connection(server.settings())
    plan = load_plan(conn, bucket, "k", upload_id)
    forged = (plan.parts[0], dataclasses.replace(plan.parts[1], checksum=sdk_checksum("SHA256", b"forged")))
    result = complete_upload(conn, dataclasses.replace(plan, parts=forged))
    assert result.status == "failed" and "InvalidPart" in (result.error or "")
    assert [code for _, code, _ in proxy.refused] == ["InvalidPart"]
    assert [u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]


def test_verify_file_compares_the_uploads_own_algorithm(
    rules: tuple[AwsRulesProxy, S3Server], bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    _proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    parts = {1: body(1), 2: body(2, 999)}
    upload_id, _ = start_upload(client, bucket, "v.bin", "CRC32C", None, parts)
    good = tmp_path / "good.bin"
    good.write_bytes(parts[1] + parts[2])
    url = f"s3://{bucket}/v.bin"
    dry = run_cli(server, "commit", url, "--upload-id", upload_id, "--verify-file", str(good), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "CRC32C checksums compared for 2 part(s)" in dry.stdout
    assert "checksum:  CRC32C composite, each part's listed checksum is sent" in dry.stdout
    bad = tmp_path / "bad.bin"
    bad.write_bytes(parts[1] + b"!" + parts[2][1:])
    proc = run_cli(
        server, "commit", url, "--upload-id", upload_id, "--verify-file", str(bad), "--yes", "--json"
    )
    assert proc.returncode == 1
    (plan,) = json_lines(proc.stdout)
    assert plan["verify"]["mismatching"] == [2] and plan["verify"]["checksums_compared"] == 2
    assert plan["verify"]["checksum_algorithm"] == "CRC32C" and plan["verify"]["checksum_note"] is None
    assert "differ from" in proc.stderr
    ok = run_cli(
        server, "commit", url, "--upload-id", upload_id, "--verify-file", str(good), "--yes", "--json"
    )
    assert ok.returncode == 0, ok.stderr
    assert json_lines(ok.stdout)[-1]["type"] == "committed"


def test_verify_file_on_moto_directly_says_md5_only(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    # moto lists the algorithm but no part checksums: the verification says it could only use MD5s.
    client = moto_server.client()
    bucket = bucket_factory()
    upload_id, _ = start_upload(client, bucket, "m.bin", "CRC32", None, {1: b"abc"})
    path = tmp_path / "m.bin"
    path.write_bytes(b"abc")
    proc = run_cli(
        moto_server, "commit", f"s3://{bucket}/m.bin", "--upload-id", upload_id, "--verify-file", str(path),
        "--dry-run", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (plan,) = json_lines(proc.stdout)
    assert plan["verify"]["ok"] is True and plan["verify"]["checksums_compared"] == 0
    assert plan["verify"]["checksum_note"] == (
        "the server lists no CRC32 checksums for the parts: parts verified by MD5 only"
    )


@pytest.mark.parametrize(
    ("algorithm", "kind"), [("CRC32C", None), ("SHA256", None), ("CRC64NVME", "FULL_OBJECT")]
)
def test_resume_sends_parts_with_the_uploads_algorithm(
    rules: tuple[AwsRulesProxy, S3Server],
    bucket_factory: BucketFactory,
    tmp_path: Path,
    algorithm: str,
    kind: str | None,
) -> None:
    proxy, server = rules
    client = server.client()
    bucket = bucket_factory()
    data = b"".join(body(n) for n in (1, 2, 3)) + body(4, 4321)
    path = tmp_path / "r.bin"
    path.write_bytes(data)
    upload_id, _sums = start_upload(
        client, bucket, "r.bin", algorithm, kind, {1: data[:PART], 3: data[2 * PART : 3 * PART]}
    )
    env = {**server.env(), "MPUTUI_HOME": str(tmp_path / "home")}
    proc = run_cli(
        None, "resume", f"s3://{bucket}/r.bin", "--upload-id", upload_id, "--file", str(path), "--yes", "--json",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json_lines(proc.stdout)[-1]["completed"] is True
    assert proxy.refused == []
    (xml, _) = proxy.completed[-1]
    for n in (1, 2, 3, 4):
        chunk = data[(n - 1) * PART : n * PART]
        assert f"<Checksum{algorithm}>{sdk_checksum(algorithm, chunk)}</Checksum{algorithm}>".encode() in xml
    assert client.get_object(Bucket=bucket, Key="r.bin")["Body"].read() == data


def test_list_parts_through_the_double_on_both_paths(
    rules: tuple[AwsRulesProxy, S3Server], bucket_factory: BucketFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server = rules
    client = server.client()
    bucket = bucket_factory()
    upload_id, sums = start_upload(client, bucket, "k", "CRC64NVME", None, {1: b"a", 2: b"bc"})
    for lean in ("1", "0"):
        monkeypatch.setenv("MPUTUI_LEAN", lean)
        parts = list_parts(S3Connection(server.settings()), bucket, "k", upload_id)
        assert [(p.checksum_algorithm, p.checksum) for p in parts] == [
            ("CRC64NVME", sums[1]),
            ("CRC64NVME", sums[2]),
        ]
