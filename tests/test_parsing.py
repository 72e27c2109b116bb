"""Parsers for durations, sizes and S3 URLs (pure logic, with property-based tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mputui.formatting import compact_age
from mputui.parsing import MAX_DURATION, ParseError, S3Url, parse_duration, parse_s3_url, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1.5h", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
        ("0m", timedelta(0)),
        ("6mo", timedelta(days=180)),
        ("1y", timedelta(days=365)),
        ("1y6mo", timedelta(days=545)),
        ("6m", timedelta(minutes=6)),
        ("1mo1m", timedelta(days=30, minutes=1)),
        (" 2MO ", timedelta(days=60)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "7", "d", "7x", "-1d", "7d garbage", "1h-", "1 d", "h1", "7dd", "6mon", "6mos", "6o", "1yr", "mo"],
)
def test_bad_durations_are_refused_with_one_line(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_duration(text)
    assert "\n" not in str(info.value)
    assert "duration" in str(info.value)


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["s", "m", "h", "d", "w", "mo", "y"])),
        min_size=1,
        max_size=5,
    ),
)
def test_duration_sums_its_parts(parts: list[tuple[int, str]]) -> None:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 30 * 86400, "y": 365 * 86400}
    text = "".join(f"{n}{u}" for n, u in parts)
    seconds = sum(n * unit[u] for n, u in parts)
    assume(seconds <= MAX_DURATION.total_seconds())
    assert parse_duration(text) == timedelta(seconds=seconds)


@given(st.integers(0, 999 * 365 * 86400))
def test_every_printed_age_is_accepted_back(seconds: int) -> None:
    printed = compact_age(seconds)
    assert compact_age(parse_duration(printed).total_seconds()) == printed


@given(st.text(max_size=20))
def test_duration_parser_never_crashes(text: str) -> None:
    try:
        value = parse_duration(text)
    except ParseError:
        return
    assert value >= timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5242880", 5 * 1024**2),
        ("5MiB", 5 * 1024**2),
        ("64M", 64 * 1024**2),
        ("100MB", 100 * 1000**2),
        ("1.5G", 3 * 1024**3 // 2),
        ("8 KiB", 8192),
        ("1TiB", 1024**4),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M", "5XB", "-5M", "1.00001K", "five"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ParseError):
        parse_size(text)


@given(st.integers(0, 2**50), st.sampled_from(["", "B", "KiB", "MiB", "GiB"]))
def test_size_round_trip(n: int, unit: str) -> None:
    factor = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[unit]
    assert parse_size(f"{n}{unit}") == n * factor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket", S3Url("bucket", "")),
        ("s3://bucket/", S3Url("bucket", "")),
        ("s3://bucket/a/b c", S3Url("bucket", "a/b c")),
        ("s3://b.u-c_k/[b]x[/b]", S3Url("b.u-c_k", "[b]x[/b]")),
        ("s3://bucket//double", S3Url("bucket", "/double")),
        ("s3://bucket/new\nline", S3Url("bucket", "new\nline")),
    ],
)
def test_s3_urls(text: str, expected: S3Url) -> None:
    assert parse_s3_url(text) == expected


@pytest.mark.parametrize(
    "text", ["bucket", "s3:/bucket", "http://bucket/x", "s3://", "s3:///key", "s3://bad bucket/k"]
)
def test_bad_s3_urls(text: str) -> None:
    with pytest.raises(ParseError):
        parse_s3_url(text)


def test_key_required() -> None:
    with pytest.raises(ParseError, match="no object key"):
        parse_s3_url("s3://bucket", require_key=True)


@given(st.from_regex(r"[a-z0-9][a-z0-9.-]{2,40}", fullmatch=True), st.text(max_size=50))
def test_s3_url_keeps_key_exactly(bucket: str, key: str) -> None:
    url = parse_s3_url(f"s3://{bucket}/{key}")
    assert url.bucket == bucket
    assert url.key == key
