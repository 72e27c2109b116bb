"""Configuration and usage errors: one line on stderr, exit code 2, in every command and the TUI; never a traceback.

Run as a user runs mputui (a subprocess) against the moto server.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_cli import assert_one_line_error

from conftest import BucketFactory, S3Server, run_cli
from mputui.parsing import ParseError, parse_duration, parse_positive_int, parse_size


@pytest.mark.parametrize(
    "text", ["٧d", "١٢h", "7d\u0663", "\uff17d", "99999999999w", "1000000w", "9" * 400 + "s"]
)
def test_durations_take_ascii_digits_and_stay_in_range(text: str) -> None:
    with pytest.raises(ParseError):
        parse_duration(text)


def test_durations_still_parse() -> None:
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("52000w") == timedelta(weeks=52000)


@pytest.mark.parametrize("text", ["٧", "٧MiB", "9" * 400, "9" * 30 + "TiB", "\uff15MiB"])
def test_sizes_take_ascii_digits_and_stay_in_range(text: str) -> None:
    with pytest.raises(ParseError):
        parse_size(text)


def test_sizes_still_parse() -> None:
    assert parse_size("5 MiB") == 5 * 1024**2
    assert parse_size("1.5G") == 3 * 1024**3 // 2
    assert parse_size("5242880") == 5242880


@pytest.mark.parametrize("text", ["٧", "1_000", " 7", "+7", "0", "9" * 400])
def test_whole_numbers_are_ascii(text: str) -> None:
    with pytest.raises(ParseError):
        parse_positive_int(text)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ls", "--older-than", "99999999999w"], "too long"),
        (["ls", "--older-than", "1000000w"], "too long"),
        (["ls", "--older-than", "٧d"], "bad duration"),
        (["abort", "s3://b/", "--older-than", "1000000w", "--yes"], "too long"),
        (["cp", "s3://a/b", "s3://c/d", "--part-size", "9" * 400], "too large"),
        (["cp", "s3://a/b", "s3://c/d", "--part-size", "9" * 15 + "TiB"], "between 5MiB and 5GiB"),
        (["cp", "s3://a/b", "s3://c/d", "--part-size", "٨MiB"], "bad size"),
        (["ls", "--concurrency", "٧"], "not a whole number"),
        (["ls", "--concurrency", "9" * 400], "not a whole number"),
    ],
)
def test_out_of_range_and_non_ascii_values_exit_2(
    moto_server: S3Server, args: list[str], needle: str
) -> None:
    proc = run_cli(moto_server, *args)
    assert_one_line_error(proc, 2, needle)
    assert len(proc.stderr) < 300


def test_resume_from_a_directory_exits_2(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)
    proc = run_cli(
        moto_server, "resume", f"s3://{bucket}/k", "--upload-id", upload_id, "--file", str(tmp_path), "--yes"
    )
    assert_one_line_error(proc, 2, "is a directory")


# -- settings from the environment and the profile: exit 2 in every command, and before the TUI opens -------


def _commands(bucket: str, local: Path) -> list[list[str]]:
    return [
        ["ls"],
        ["ls", f"s3://{bucket}"],
        ["parts", f"s3://{bucket}/k", "--upload-id", "x"],
        ["abort", f"s3://{bucket}/", "--all", "--yes"],
        ["commit", f"s3://{bucket}/k", "--upload-id", "x", "--yes"],
        ["cp", f"s3://{bucket}/k", f"s3://{bucket}/k2", "--yes"],
        ["put", str(local), f"s3://{bucket}/", "--yes"],
        ["resume", f"s3://{bucket}/k", "--upload-id", "x", "--file", str(local), "--yes"],
        [],  # the TUI
    ]


BAD_SETTINGS: dict[str, tuple[dict[str, str], str, str]] = {
    # name: (environment, profile lines, what the one line must say)
    "profile max_attempts": ({}, "max_attempts = abc", "invalid max_attempts setting 'abc'"),
    "profile region": ({}, "region = Not_A_Region", "invalid region name 'Not_A_Region'"),
    "checksum setting": ({"AWS_REQUEST_CHECKSUM_CALCULATION": "bogus"}, "", "request_checksum_calculation"),
    "AWS_DEFAULT_REGION": ({"AWS_DEFAULT_REGION": "bad region!"}, "", "invalid region name 'bad region!'"),
    "AWS_ENDPOINT_URL scheme": ({"AWS_ENDPOINT_URL": "ftp://host"}, "", "invalid endpoint URL 'ftp://host'"),
    "AWS_ENDPOINT_URL port": ({"AWS_ENDPOINT_URL": "http://host:port"}, "", "invalid endpoint URL"),
}


@pytest.mark.parametrize("setting", list(BAD_SETTINGS))
def test_bad_settings_exit_2_in_every_command(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path, setting: str
) -> None:
    overrides, profile, needle = BAD_SETTINGS[setting]
    config = tmp_path / "config"
    config.write_text(f"[default]\n{profile}\n")
    local = tmp_path / "file.bin"
    local.write_bytes(b"x" * 1024)
    env: dict[str, Any] = moto_server.env()
    env["AWS_CONFIG_FILE"] = str(config)
    # The environment would override the profile's value.
    for name, variable in (("region", "AWS_DEFAULT_REGION"), ("max_attempts", "AWS_MAX_ATTEMPTS")):
        if profile.startswith(name):
            del env[variable]
    env.update(overrides)
    bucket = bucket_factory()
    for args in _commands(bucket, local):
        proc = run_cli(None, *args, env=env, timeout=60)
        assert proc.stdout == "", (args, proc.stdout)
        try:
            assert_one_line_error(proc, 2, needle)
        except AssertionError as exc:
            raise AssertionError(f"mputui {' '.join(args) or '(TUI)'}: {exc}") from exc
