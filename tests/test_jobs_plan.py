"""Pure copy planning: cp -r path semantics, part sizes and ranges (objects over 5 GiB included)."""

from __future__ import annotations

import pytest

from mputui.jobs.plan import (
    GIB,
    MAX_PARTS,
    MIB,
    as_prefix,
    dest_key_for_object,
    dest_key_for_prefix,
    effective_part_size,
    part_count,
    part_range,
    part_sizes,
    source_spec,
    uses_multipart,
)
from mputui.parsing import ParseError, parse_s3_url
from mputui.s3.objects import ObjectInfo, destination_metadata, same_content


@pytest.mark.parametrize(
    ("src", "dst", "key", "expected"),
    [
        # s3copy's README table
        ("s3://source", "s3://dest", "folder-001/test-001", "folder-001/test-001"),
        ("s3://source", "s3://dest/foo", "folder-001/test-001", "foo/folder-001/test-001"),
        ("s3://source/folder-001/", "s3://dest", "folder-001/test-001", "folder-001/test-001"),
        ("s3://source/folder-001/*", "s3://dest", "folder-001/test-001", "test-001"),
        # more of the same rules
        ("s3://source/a/folder/", "s3://dest/x/", "a/folder/sub/f", "x/folder/sub/f"),
        ("s3://source/a/folder/te*", "s3://dest/x", "a/folder/test-1", "x/test-1"),
        ("s3://source/*", "s3://dest/x/", "top/f", "x/top/f"),
    ],
)
def test_prefix_destinations(src: str, dst: str, key: str, expected: str) -> None:
    spec = source_spec(parse_s3_url(src))
    assert key.startswith(spec.prefix)
    assert dest_key_for_prefix(spec, key, parse_s3_url(dst)) == expected


def test_a_key_without_slash_is_an_object_or_else_a_folder() -> None:
    spec = source_spec(parse_s3_url("s3://source/folder-001"))
    assert spec.kind == "object"
    folder = as_prefix(spec)
    assert (folder.kind, folder.prefix) == ("prefix", "folder-001/")
    assert (
        dest_key_for_prefix(folder, "folder-001/test-001", parse_s3_url("s3://dest")) == "folder-001/test-001"
    )


@pytest.mark.parametrize(
    ("dst", "expected"),
    [("s3://b/k2", "k2"), ("s3://b", "file.bin"), ("s3://b/dir/", "dir/file.bin")],
)
def test_object_destinations(dst: str, expected: str) -> None:
    assert dest_key_for_object("a/file.bin", parse_s3_url(dst)) == expected


def test_only_a_trailing_glob_is_supported() -> None:
    with pytest.raises(ParseError, match="trailing"):
        source_spec(parse_s3_url("s3://a/x*/y"))


def test_part_size_grows_to_stay_within_10000_parts() -> None:
    assert effective_part_size(6 * GIB, 5 * MIB) == 5 * MIB  # 1229 parts
    big = 100 * GIB
    size = effective_part_size(big, 5 * MIB)
    assert size % MIB == 0 and part_count(big, size) <= MAX_PARTS
    with pytest.raises(ValueError, match="too large"):
        effective_part_size(6 * 1024 * GIB, 64 * MIB)


def test_parts_cover_an_object_over_5_gib_exactly() -> None:
    size = 5 * GIB + 123
    ps = 64 * MIB
    n = part_count(size, ps)
    assert n == 81
    assert part_range(1, size, ps) == (0, ps - 1)
    assert part_range(n, size, ps) == ((n - 1) * ps, size - 1)
    assert sum(part_sizes(size, ps)) == size
    assert uses_multipart(size, ps) and not uses_multipart(ps, ps)
    # even with a part size over 5 GiB a bigger object can't be a single CopyObject
    assert uses_multipart(5 * GIB + 1, 6 * GIB)


def test_same_content_uses_md5_metadata_not_etag_shape() -> None:
    src = ObjectInfo("a", "k", 10, "0cc175b9c0f1b6a831c399e269772661")
    copied = ObjectInfo(
        "b", "k", 10, "ffffffffffffffffffffffffffffffff-2", metadata=destination_metadata(src)
    )
    assert copied.metadata["md5"] == src.md5
    assert same_content(src, copied)
    other = ObjectInfo("b", "k", 10, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-2", metadata={"md5": "1" * 32})
    assert not same_content(src, other)
    assert not same_content(src, ObjectInfo("b", "k", 11, src.etag))
    # a multipart source with no known MD5: the destination remembers the ETag it was made from
    mp = ObjectInfo("a", "k", 10, "abcabcabcabcabcabcabcabcabcabcab-3")
    assert mp.md5 is None
    remembered = ObjectInfo("b", "k", 10, "d" * 32 + "-2", metadata=destination_metadata(mp))
    assert same_content(mp, remembered)
