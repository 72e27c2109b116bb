"""``mputui put`` against real servers: keys, content types, modes, duplicates by server-side copy, globs, gzip.

Multipart files are 11-12 MiB with 5 MiB parts (both servers refuse smaller non-last parts at completion).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import BucketFactory, S3Server, run_cli
from mputui.cli import main as cli_main
from mputui.cli.common import Context
from mputui.cli.put_output import PutPrinter
from mputui.jobs.events import FileSource, ObjectDone, RunProgress
from mputui.s3.checksums import multipart_etag
from mputui.s3.connect import ConnectionSettings

MIB = 1024 * 1024
PART = 5 * MIB


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def env_for(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    env = server.env()
    env["MPUTUI_HOME"] = str(home)
    env.update(extra)
    return env


def put(server: S3Server, home: Path, src: Path, dst: str, *args: str, **env: str) -> Any:
    return run_cli(None, "put", str(src), dst, "--part-size", "5MiB", *args, env=env_for(server, home, **env))


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def body(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def keys(client: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def uploads(client: Any, bucket: str) -> list[Any]:
    found: list[Any] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return found


def by_dst(lines: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {x["dst"]: x for x in lines if x["type"] == kind}


def multipart_put(client: Any, bucket: str, key: str, data: bytes, part_size: int) -> None:
    """Upload ``data`` in parts as another client would (no x-amz-meta-md5)."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(data), part_size), 1):
        r = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data[start : start + part_size]
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def test_put_a_tree_small_files_and_multipart(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    big = os.urandom(12 * MIB + 77)
    files = {"a.txt": b"hello", "sub/b.html": b"<p>hi</p>", "big.bin": big}
    root = tree(tmp_path / "src", files)
    proc = put(s3_server, tmp_path, root, f"s3://{bucket}/pre", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    done = by_dst(lines, "uploaded")
    assert set(done) == {f"s3://{bucket}/pre/{k}" for k in files}
    assert done[f"s3://{bucket}/pre/big.bin"]["method"] == "multipart"
    assert done[f"s3://{bucket}/pre/big.bin"]["parts"] == 3
    assert done[f"s3://{bucket}/pre/a.txt"]["method"] == "put"
    assert sorted(x["part_number"] for x in lines if x["type"] == "part") == [1, 2, 3]
    summary = lines[-1]
    assert (summary["uploaded"], summary["failed"], summary["bytes_uploaded"]) == (3, 0, len(big) + 5 + 9)
    for rel, data in files.items():
        assert body(client, bucket, f"pre/{rel}") == data
    assert client.head_object(Bucket=bucket, Key="pre/a.txt")["ContentType"] == "text/plain"
    assert client.head_object(Bucket=bucket, Key="pre/sub/b.html")["ContentType"] == "text/html"
    head = client.head_object(Bucket=bucket, Key="pre/big.bin")
    assert head["Metadata"]["md5"] == hashlib.md5(big).hexdigest() and head["ETag"].strip('"').endswith("-3")
    assert uploads(client, bucket) == []
    assert list((tmp_path / "state" / "jobs").glob("*.json")) == []

    again = put(s3_server, tmp_path, root, f"s3://{bucket}/pre", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json_lines(again.stdout)[-1]["skipped"] == 3 and json_lines(again.stdout)[-1]["uploaded"] == 0


def test_each_mode_decides_on_a_prepared_tree(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    big = os.urandom(11 * MIB)
    files = {
        "same.txt": os.urandom(1000),
        "changed.txt": os.urandom(1000),
        "new.txt": os.urandom(1000),
        "big-same-parts.bin": big,  # there as a multipart object at our part size, no x-amz-meta-md5
        "big-other-parts.bin": big[::-1],  # there in 6 MiB parts, no x-amz-meta-md5
        "big-changed.bin": os.urandom(11 * MIB),  # there, same size, other content, in parts
    }
    root = tree(tmp_path / "src", files)
    client.put_object(Bucket=bucket, Key="p/same.txt", Body=files["same.txt"])
    client.put_object(Bucket=bucket, Key="p/changed.txt", Body=b"old content")
    multipart_put(client, bucket, "p/big-same-parts.bin", big, PART)
    multipart_put(client, bucket, "p/big-other-parts.bin", big[::-1], 6 * MIB)
    multipart_put(client, bucket, "p/big-changed.bin", os.urandom(11 * MIB), PART)

    def decisions(mode: str) -> dict[str, str]:
        proc = put(s3_server, tmp_path, root, f"s3://{bucket}/p/", "--mode", mode, "--dry-run", "--json")
        assert proc.returncode == 0, proc.stderr
        return {
            x["dst"].rsplit("/", 1)[-1]: x["action"]
            for x in json_lines(proc.stdout)
            if x["type"] == "planned"
        }

    assert decisions("add") == {
        "same.txt": "skip",
        "changed.txt": "skip",
        "new.txt": "upload",
        "big-same-parts.bin": "skip",
        "big-other-parts.bin": "skip",
        "big-changed.bin": "skip",
    }
    assert decisions("update") == {
        "same.txt": "skip",
        "changed.txt": "replace",
        "new.txt": "upload",
        "big-same-parts.bin": "skip",
        "big-other-parts.bin": "skip",
        "big-changed.bin": "replace",
    }
    assert set(decisions("always").values()) == {"upload"}
    assert keys(client, bucket) == {f"p/{k}" for k in files} - {"p/new.txt"}  # dry runs changed nothing

    proc = put(s3_server, tmp_path, root, f"s3://{bucket}/p/", "--mode", "update", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert {x["dst"].rsplit("/", 1)[-1] for x in lines if x["type"] == "uploaded"} == {
        "changed.txt",
        "new.txt",
        "big-changed.bin",
    }
    for rel, data in files.items():
        assert body(client, bucket, f"p/{rel}") == data


def test_duplicates_are_sent_once_and_copied_server_side(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    there = os.urandom(3000)
    twice = os.urandom(2000)
    big = os.urandom(11 * MIB)
    client.put_object(Bucket=bucket, Key="d/old/there.bin", Body=there)
    files = {
        "x/there-again.bin": there,  # already under the prefix, at another key
        "a/one.txt": twice,
        "b/two.html": twice,  # the same content twice in the tree
        "big1.bin": big,
        "big2.bin": big,
    }
    root = tree(tmp_path / "src", files)
    proc = put(s3_server, tmp_path, root, f"s3://{bucket}/d/", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    copied = by_dst(lines, "copied")
    assert copied[f"s3://{bucket}/d/x/there-again.bin"]["copy_from"] == f"s3://{bucket}/d/old/there.bin"
    assert copied[f"s3://{bucket}/d/b/two.html"]["copy_from"] == f"s3://{bucket}/d/a/one.txt"
    assert copied[f"s3://{bucket}/d/big2.bin"]["copy_from"] == f"s3://{bucket}/d/big1.bin"
    assert set(by_dst(lines, "uploaded")) == {f"s3://{bucket}/d/a/one.txt", f"s3://{bucket}/d/big1.bin"}
    summary = lines[-1]
    assert summary["bytes_saved"] == len(there) + len(twice) + len(big)
    assert summary["bytes_uploaded"] == len(twice) + len(big)
    assert (summary["copied"], summary["uploaded"]) == (3, 2)
    for rel, data in files.items():
        assert body(client, bucket, f"d/{rel}") == data
    head = client.head_object(Bucket=bucket, Key="d/b/two.html")
    assert head["ContentType"] == "text/html" and head["Metadata"]["md5"] == hashlib.md5(twice).hexdigest()
    nodedupe = put(s3_server, tmp_path, root, f"s3://{bucket}/e/", "--no-dedupe", "--dry-run", "--json")
    assert {x["action"] for x in json_lines(nodedupe.stdout) if x["type"] == "planned"} == {"upload"}


def test_include_and_exclude(s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path) -> None:
    """Rules in order, first match wins; once an --include is given, a file matching none is left out."""
    bucket = s3_bucket_factory()
    root = tree(
        tmp_path / "src",
        {
            "index.html": b"<p>i</p>",
            "page1.html": b"<p>1</p>",
            "big.bin": os.urandom(6 * MIB),  # above the part size: it would go up as a multipart upload
            "a.txt": b"a",
            "sub/c.txt": b"c",
            "sub/d.tmp": b"d",
            "tmp/e.txt": b"e",
        },
    )

    def planned(*args: str) -> set[str]:
        proc = put(s3_server, tmp_path, root, f"s3://{bucket}/", "--dry-run", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return {x["dst"].split("/", 3)[3] for x in json_lines(proc.stdout) if x["type"] == "planned"}

    assert planned("--include", "*.html", "--exclude", "page1*") == {"index.html", "page1.html"}
    assert planned("--exclude", "page1*", "--include", "*.html") == {"index.html"}
    assert planned("--include", "*.txt") == {"a.txt", "sub/c.txt", "tmp/e.txt"}
    assert planned(
        "--exclude", "*.tmp", "--exclude", "tmp/", "--exclude", "*.bin", "--exclude", "*.html"
    ) == {
        "a.txt",
        "sub/c.txt",
    }
    assert planned("--include", "sub") == {"sub/c.txt", "sub/d.tmp"}
    assert planned("--exclude", "*", "--include", "sub/*") == set()
    assert planned("--include", "nothing*") == set()
    # And for real: only the selected files reach the bucket, the binary is not among them.
    proc = put(s3_server, tmp_path, root, f"s3://{bucket}/", "--exclude", "page1*", "--include", "*.html")
    assert proc.returncode == 0, proc.stderr
    assert keys(s3_server.client(), bucket) == {"index.html"}
    bad = put(s3_server, tmp_path, root, f"s3://{bucket}/", "--include", "[z-a]")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad pattern '[z-a]'" in bad.stderr


def test_gzip_round_trip(s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path) -> None:
    client = s3_server.client()
    bucket = s3_bucket_factory()
    text = b"all work and no play makes jack a dull boy\n" * 5000
    big = os.urandom(11 * MIB)  # incompressible: still three parts once gzipped
    root = tree(tmp_path / "src", {"notes.txt": text, "big.bin": big})
    proc = put(s3_server, tmp_path, root, f"s3://{bucket}/z/", "--gzip", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    done = by_dst(json_lines(proc.stdout), "uploaded")
    assert done[f"s3://{bucket}/z/notes.txt"]["size"] < len(text) // 10
    assert done[f"s3://{bucket}/z/big.bin"]["method"] == "multipart"
    for key, data in (("z/notes.txt", text), ("z/big.bin", big)):
        obj = client.get_object(Bucket=bucket, Key=key)
        assert obj["ContentEncoding"] == "gzip"
        assert gzip.decompress(obj["Body"].read()) == data
    assert client.head_object(Bucket=bucket, Key="z/notes.txt")["ContentType"] == "text/plain"
    again = put(s3_server, tmp_path, root, f"s3://{bucket}/z/", "--gzip", "--yes", "--json")
    assert json_lines(again.stdout)[-1]["skipped"] == 2  # gzip output is deterministic: same MD5


def test_limit_content_type_dry_run_and_safety(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    root = tree(tmp_path / "src", {f"f{i}.dat": os.urandom(100 + i) for i in range(4)})
    dst = f"s3://{bucket}/l/"
    read_only = run_cli(
        None, "--read-only", "put", str(root), dst, "--yes", env=env_for(moto_server, tmp_path)
    )
    assert read_only.returncode == 2 and "read-only" in read_only.stderr
    dry = put(moto_server, tmp_path, root, dst, "--dry-run")
    assert dry.returncode == 0 and "would upload 4 file(s)" in dry.stdout
    assert keys(client, bucket) == set()
    proc = put(moto_server, tmp_path, root, dst, "--limit", "2", "--content-type", "x/y", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json_lines(proc.stdout)[-1]
    assert (summary["uploaded"], summary["limited"]) == (2, 2)
    assert keys(client, bucket) == {"l/f0.dat", "l/f1.dat"}
    assert client.head_object(Bucket=bucket, Key="l/f0.dat")["ContentType"] == "x/y"
    missing = put(moto_server, tmp_path, tmp_path / "nope", dst, "--yes")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_put_asks_only_before_overwriting_and_names_what(
    s3_server: S3Server,
    s3_bucket_factory: BucketFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Like aws s3 cp and rclone copy, new keys go up without a question (and without --yes off a terminal);
    objects with other content are overwritten only when asked, the question naming how many and which."""
    client = s3_server.client()
    bucket = s3_bucket_factory()
    names = [f"f{i:02}.txt" for i in range(12)]
    root = tree(tmp_path / "src", {name: b"version 1 " + name.encode() for name in names})
    dst = f"s3://{bucket}/o/"
    first = put(s3_server, tmp_path, root, dst)  # no --yes, stdin is not a terminal: nothing to overwrite
    assert first.returncode == 0, first.stderr
    assert keys(client, bucket) == {f"o/{n}" for n in names}

    for name in names:
        (root / name).write_bytes(b"version 2 " + name.encode())
    (root / "new.txt").write_bytes(b"new")
    refused = put(s3_server, tmp_path, root, dst)
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.splitlines()
    assert "refusing to overwrite without --yes (stdin is not a terminal)" in line
    assert "12 existing object(s) with other content will be OVERWRITTEN" in line
    assert all(f"{dst}{n}" in line for n in names[:10]) and f"{dst}{names[10]}" not in line
    assert line.endswith("… and 2 more")
    assert body(client, bucket, "o/f00.txt") == b"version 1 f00.txt" and "o/new.txt" not in keys(
        client, bucket
    )

    added = put(s3_server, tmp_path, root, dst, "--mode", "add", "--json")  # never overwrites, never asks
    assert added.returncode == 0, added.stderr
    assert [x["dst"] for x in json_lines(added.stdout) if x["type"] == "uploaded"] == [f"{dst}new.txt"]
    assert body(client, bucket, "o/f00.txt") == b"version 1 f00.txt"

    always = put(s3_server, tmp_path, root, dst, "--mode", "always")  # does not look, so it asks
    assert always.returncode == 2 and "--mode always does not look" in always.stderr

    for name, value in env_for(s3_server, tmp_path).items():
        monkeypatch.setenv(name, value)
    args = ["put", str(root), dst, "--part-size", "5MiB", "--exclude", "f1*"]  # 10 of them differ
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    err = io.StringIO()
    assert cli_main(args, out=io.StringIO(), err=err) == 1
    prompt = err.getvalue()
    assert prompt.startswith("10 existing object(s) with other content will be OVERWRITTEN:\n")
    assert [ln.strip() for ln in prompt.splitlines()[1:11]] == [f"{dst}f{i:02}.txt" for i in range(10)]
    assert "more" not in prompt and "nothing uploaded" in prompt
    assert body(client, bucket, "o/f00.txt") == b"version 1 f00.txt"
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert cli_main(args, out=io.StringIO(), err=io.StringIO()) == 0
    assert body(client, bucket, "o/f00.txt") == b"version 2 f00.txt"
    assert body(client, bucket, "o/f10.txt") == b"version 1 f10.txt"
    assert cli_main(["put", str(root), dst, "--yes"], out=io.StringIO(), err=io.StringIO()) == 0
    assert body(client, bucket, "o/f11.txt") == b"version 2 f11.txt"


def test_an_overwrite_made_by_a_server_side_copy_is_asked_about_too(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """A changed file whose new content is already under the prefix is copied server side: still an overwrite."""
    client = moto_server.client()
    bucket = bucket_factory()
    client.put_object(Bucket=bucket, Key="c/cfg.json", Body=b'{"v": 1}')
    client.put_object(Bucket=bucket, Key="c/spare.json", Body=b'{"v": 2}')
    root = tree(tmp_path / "src", {"cfg.json": b'{"v": 2}'})
    plan = put(moto_server, tmp_path, root, f"s3://{bucket}/c/", "--dry-run", "--json")
    assert [x["action"] for x in json_lines(plan.stdout) if x["type"] == "planned"] == ["copy"]
    refused = put(moto_server, tmp_path, root, f"s3://{bucket}/c/")
    assert refused.returncode == 2
    assert (
        f"1 existing object(s) with other content will be OVERWRITTEN: s3://{bucket}/c/cfg.json"
        in refused.stderr
    )
    assert body(client, bucket, "c/cfg.json") == b'{"v": 1}'


def test_put_a_single_file_to_an_exact_key(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    (tmp_path / "one.json").write_bytes(b"{}")
    proc = put(moto_server, tmp_path, tmp_path / "one.json", f"s3://{bucket}/cfg/app.json", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "uploaded" in proc.stdout and "Traceback" not in proc.stderr
    assert keys(client, bucket) == {"cfg/app.json"}
    put(moto_server, tmp_path, tmp_path / "one.json", f"s3://{bucket}/cfg/", "--yes")
    assert keys(client, bucket) == {"cfg/app.json", "cfg/one.json"}
    assert client.head_object(Bucket=bucket, Key="cfg/one.json")["ContentType"] == "application/json"


def test_local_multipart_etag_matches_the_server(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    bucket = bucket_factory()
    data = os.urandom(11 * MIB)
    root = tree(tmp_path / "src", {"f.bin": data})
    proc = put(moto_server, tmp_path, root, f"s3://{bucket}/", "--yes", "--json")
    (done,) = by_dst(json_lines(proc.stdout), "uploaded").values()
    chunks = [data[i : i + PART] for i in range(0, len(data), PART)]
    expected = multipart_etag(hashlib.md5(c).hexdigest() for c in chunks)
    assert done["etag"] == expected == client.head_object(Bucket=bucket, Key="f.bin")["ETag"].strip('"')


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_line_on_a_terminal_and_quiet_json() -> None:
    """Pure output logic: the TTY line shows files, bytes, rate, ETA and current transfers; --json has none."""
    err, out = _Terminal(), io.StringIO()
    ctx = Context(settings=ConnectionSettings(), out=out, err=err, now=datetime.now(UTC))
    printer = PutPrinter(ctx, json_output=False)
    printer.on_event(RunProgress(2, 5, 3 * MIB, 10 * MIB, 3 * MIB, 0, float(MIB), 7.0, ("s3://b/p/big.iso",)))
    line = err.getvalue()
    assert line.startswith("\r\x1b[K2/5 files  3.0 MiB/10.0 MiB  1.0 MiB/s  ETA 7s  [big.iso]")
    printer.on_event(ObjectDone(FileSource("/x/a"), "s3://b/p/a", 10, "copy", copy_from="s3://b/p/z"))
    assert "copied   s3://b/p/a" in out.getvalue() and "server-side copy of s3://b/p/z" in out.getvalue()

    err, out = _Terminal(), io.StringIO()
    ctx = Context(settings=ConnectionSettings(), out=out, err=err, now=datetime.now(UTC))
    quiet = PutPrinter(ctx, json_output=True)
    quiet.on_event(RunProgress(2, 5, 3 * MIB, 10 * MIB, 3 * MIB, 0, float(MIB), 7.0))
    quiet.on_event(ObjectDone(FileSource("/x/a"), "s3://b/p/a", 10, "put", bytes_sent=10))
    assert err.getvalue() == ""
    (line,) = json_lines(out.getvalue())
    assert (line["type"], line["bytes_sent"]) == ("uploaded", 10)
