"""The lean path sends every request to exactly the URL botocore would use, signed for the same region — or
leaves the call to boto3. Nothing here is sent: botocore's own request is stopped at ``before-send``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.lean import key_path
from mputui.s3.routes import StepAside, host_header

KEY = "dir/a b/ü[x]~!$&'()*+,;=:@/./../x//end"
UPLOAD_ID = "2~abc+/=def"


class _Stop(Exception):
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(url)
        self.url = url
        self.headers = headers


def _stop(request: Any, **_: Any) -> None:
    raise _Stop(request.url, {k.lower(): str(v) for k, v in request.headers.items()})


def botocore_list_parts(conn: S3Connection, bucket: str, region: str) -> tuple[str, str, str]:
    """(URL, Host, signing region) of the ListParts request that boto3 itself would send."""
    client = conn.client(region)
    client.meta.events.register_first("before-send.s3", _stop, unique_id="test-stop")
    try:
        client.list_parts(Bucket=bucket, Key=KEY, UploadId=UPLOAD_ID)
    except _Stop as stopped:
        scope = stopped.headers["authorization"].split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return stopped.url, host_header(stopped.url), scope[-3]
    finally:
        client.meta.events.unregister("before-send.s3", unique_id="test-stop")
    raise AssertionError("boto3 sent nothing")


@dataclass(frozen=True)
class Case:
    name: str
    bucket: str = "mybucket"
    region: str = "us-east-1"
    endpoint: str | None = None
    path_style: bool = False
    profile: dict[str, str] = field(default_factory=dict)
    s3: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    # None: the lean URL must equal botocore's; else the call must take boto3, for a reason containing this.
    boto3_because: str | None = None


CASES = [
    Case("aws us-east-1 global"),
    Case("aws us-east-1 regional", s3={"us_east_1_regional_endpoint": "regional"}),
    Case("aws eu-west-1", region="eu-west-1"),
    Case("aws dotted bucket", bucket="my.dotted.bucket", region="eu-central-1"),
    Case("aws upper-case bucket", bucket="MyBucket", region="us-west-2"),
    Case("aws digits and dashes", bucket="123-bucket-9", region="ap-southeast-2"),
    Case("aws fips", region="us-east-2", profile={"use_fips_endpoint": "true"}),
    Case("aws dual-stack", region="eu-west-1", profile={"use_dualstack_endpoint": "true"}),
    Case(
        "aws fips + dual-stack",
        region="us-west-2",
        profile={"use_fips_endpoint": "true", "use_dualstack_endpoint": "true"},
    ),
    Case("aws accelerate", s3={"use_accelerate_endpoint": "true"}),
    Case(
        "aws accelerate + dual-stack",
        region="ap-northeast-1",
        s3={"use_accelerate_endpoint": "true"},
        profile={"use_dualstack_endpoint": "true"},
    ),
    Case("aws virtual style asked", region="eu-west-3", s3={"addressing_style": "virtual"}),
    Case("aws path style asked", region="eu-west-3", s3={"addressing_style": "path"}),
    Case("aws --path-style", region="sa-east-1", path_style=True),
    Case("aws china", region="cn-north-1"),
    Case("aws govcloud", region="us-gov-west-1"),
    Case("custom hostname", endpoint="http://minio.internal:9000"),
    Case(
        "custom hostname, profile path",
        endpoint="http://minio.internal:9000",
        s3={"addressing_style": "path"},
    ),
    Case(
        "custom hostname, profile virtual",
        endpoint="http://minio.internal:9000",
        s3={"addressing_style": "virtual"},
    ),
    Case(
        "custom hostname, --path-style beats profile virtual",
        endpoint="http://minio.internal:9000",
        path_style=True,
        s3={"addressing_style": "virtual"},
    ),
    Case("custom https, dotted bucket", endpoint="https://objects.example.com", bucket="a.b.c"),
    Case("custom https, explicit default port", endpoint="https://objects.example.com:443"),
    Case("custom http, explicit default port", endpoint="http://objects.example.com:80"),
    Case("custom endpoint with a path", endpoint="http://gateway.example.com:8080/s3/"),
    Case("custom upper-case host", endpoint="http://Objects.Example.COM:9000"),
    Case("ip endpoint", endpoint="http://127.0.0.1:9000"),
    Case("ipv6 endpoint", endpoint="http://[::1]:9000"),
    Case(
        "ipv6 endpoint, https, virtual asked",
        endpoint="https://[::1]:9443",
        s3={"addressing_style": "virtual"},
    ),
    Case("localhost endpoint", endpoint="http://localhost:9000", bucket="b-1"),
    Case("profile endpoint_url", profile={"endpoint_url": "http://profile.example.com:9000"}),
    Case("services section", services={"endpoint_url": "https://services.example.com"}),
    Case("AWS_ENDPOINT_URL_S3", env={"AWS_ENDPOINT_URL_S3": "http://env-s3.example.com:7480"}),
    Case("AWS_ENDPOINT_URL", env={"AWS_ENDPOINT_URL": "http://env.example.com:7480"}, region="eu-west-1"),
    Case(
        "flag beats environment", endpoint="http://flag.example.com", env={"AWS_ENDPOINT_URL": "http://env"}
    ),
    Case(
        "directory bucket", bucket="mybucket--usw2-az1--x-s3", region="us-west-2", boto3_because="s3express"
    ),
    Case(
        "access point ARN",
        bucket="arn:aws:s3:us-west-2:123456789012:accesspoint/myendpoint",
        region="us-west-2",
        boto3_because="ARN",
    ),
    Case(
        "multi-region access point ARN",
        bucket="arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap",
        boto3_because="ARN",
    ),
    Case(
        "outposts ARN",
        bucket="arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01234567890123456/accesspoint/ap",
        region="us-west-2",
        boto3_because="ARN",
    ),
]


def _write_config(path: Path, case: Case) -> None:
    lines = ["[default]"]
    lines += [f"{k} = {v}" for k, v in case.profile.items()]
    if case.s3:
        lines.append("s3 =")
        lines += [f"    {k} = {v}" for k, v in case.s3.items()]
    if case.services:
        lines.append("services = mine")
        lines += ["", "[services mine]", "s3 ="]
        lines += [f"    {k} = {v}" for k, v in case.services.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lean_url_is_botocores_or_the_call_takes_boto3(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    _write_config(config, case)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    conn = S3Connection(
        ConnectionSettings(
            endpoint_url=case.endpoint,
            region=case.region,
            path_style=case.path_style,
            demo_credentials=("AKIDEXAMPLE0000000000", "secret-key-for-route-tests-000000000000"),
        )
    )
    lean = conn._lean_client()
    if case.boto3_because is not None:
        with pytest.raises(StepAside, match=case.boto3_because):
            lean.prepare("GET", case.bucket, case.region, key_path(KEY), (("uploadId", UPLOAD_ID),))
        return
    url, host, signing_region = botocore_list_parts(conn, case.bucket, case.region)
    route, lean_url, request = lean.prepare(
        "GET", case.bucket, case.region, key_path(KEY), (("uploadId", UPLOAD_ID),)
    )
    assert lean_url == url
    assert route.region == signing_region
    head = request.decode("latin-1").split("\r\n")
    assert head[0] == f"GET {url[len(route.origin) :]} HTTP/1.1"
    assert f"Host: {host}" in head
    assert (route.host, route.port) == (urlsplit(url).hostname, urlsplit(url).port or route.port)


def test_the_profiles_addressing_style_reaches_boto3_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mputui's own client configuration no longer overrides the profile's s3 settings."""
    config = tmp_path / "config"
    config.write_text("[default]\ns3 =\n    addressing_style = virtual\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    conn = S3Connection(
        ConnectionSettings(
            endpoint_url="http://minio.internal:9000",
            demo_credentials=("AKIDEXAMPLE0000000000", "secret-key-for-route-tests-000000000000"),
        )
    )
    url, _, _ = botocore_list_parts(conn, "mybucket", "us-east-1")
    assert urlsplit(url).hostname == "mybucket.minio.internal"
