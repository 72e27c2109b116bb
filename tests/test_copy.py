"""``mputui cp`` against real servers: bytes-identical copies, metadata carried, cp -r semantics, skip, safety."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import BucketFactory, S3Server, run_cli
from mputui.cli import main as cli_main
from mputui.jobs.copy import Copier
from mputui.jobs.events import JobAborted, JobEvent, ObjectFailed, PartSent
from mputui.jobs.journal import Journal
from mputui.parsing import parse_s3_url
from mputui.s3.connect import S3Connection

MIB = 1024 * 1024


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def cli_env(server: S3Server, home: Path, **extra: str) -> dict[str, str]:
    env = server.env()
    env["MPUTUI_HOME"] = str(home)
    env.update(extra)
    return env


def body(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def uploads_left(client: Any, bucket: str) -> list[Any]:
    uploads: list[Any] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def test_small_and_multipart_copies_are_byte_identical_with_metadata(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = s3_server.client()
    src, dst = s3_bucket_factory(), s3_bucket_factory()
    big = os.urandom(12 * MIB + 4321)  # 3 parts of 5 MiB: 5 + 5 + 2
    client.put_object(
        Bucket=src, Key="d/big.bin", Body=big, ContentType="application/x-big", Metadata={"owner": "ops"}
    )
    client.put_object(Bucket=src, Key="d/small.txt", Body=b"small object", ContentType="text/plain")
    proc = run_cli(
        None, "cp", f"s3://{src}/d/", f"s3://{dst}/copy/", "--part-size", "5MiB", "--yes", "--json",
        env=cli_env(s3_server, tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    copied = {x["dst"]: x for x in lines if x["type"] == "copied"}
    assert set(copied) == {f"s3://{dst}/copy/d/big.bin", f"s3://{dst}/copy/d/small.txt"}
    assert copied[f"s3://{dst}/copy/d/big.bin"]["method"] == "multipart"
    assert copied[f"s3://{dst}/copy/d/big.bin"]["parts"] == 3
    assert copied[f"s3://{dst}/copy/d/small.txt"]["method"] == "copy"
    assert sorted(x["part_number"] for x in lines if x["type"] == "part") == [1, 2, 3]
    assert lines[-1]["type"] == "summary" and (lines[-1]["copied"], lines[-1]["failed"]) == (2, 0)

    assert body(client, dst, "copy/d/big.bin") == big
    assert body(client, dst, "copy/d/small.txt") == b"small object"
    head = client.head_object(Bucket=dst, Key="copy/d/big.bin")
    assert head["ContentType"] == "application/x-big"
    assert head["Metadata"] == {"owner": "ops", "md5": hashlib.md5(big).hexdigest()}
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag, yet the MD5 is known
    assert client.head_object(Bucket=dst, Key="copy/d/small.txt")["ContentType"] == "text/plain"
    assert uploads_left(client, dst) == []
    assert list((tmp_path / "state" / "jobs").glob("*.json")) == []

    again = run_cli(
        None, "cp", f"s3://{src}/d/", f"s3://{dst}/copy/", "--yes", env=cli_env(s3_server, tmp_path)
    )
    assert again.returncode == 0, again.stderr
    assert "nothing to copy: all 2 object(s) already there" in again.stdout
    assert "copied " not in again.stdout


def test_storage_class_is_carried(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = os.urandom(11 * MIB)
    client.put_object(Bucket=src, Key="ia", Body=data, StorageClass="STANDARD_IA")
    client.put_object(Bucket=src, Key="ia-small", Body=b"x", StorageClass="STANDARD_IA")
    for key in ("ia", "ia-small"):
        proc = run_cli(
            None, "cp", f"s3://{src}/{key}", f"s3://{dst}/", "--part-size", "5MiB", "--yes",
            env=cli_env(moto_server, tmp_path),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert client.head_object(Bucket=dst, Key=key).get("StorageClass") == "STANDARD_IA"
    assert body(client, dst, "ia") == data


@pytest.mark.parametrize(
    ("src_path", "dst_path", "expected"),
    [
        ("", "", {"folder-001/test-001", "folder-001/test-002"}),
        ("", "/foo", {"foo/folder-001/test-001", "foo/folder-001/test-002"}),
        ("/folder-001", "", {"folder-001/test-001", "folder-001/test-002"}),
        ("/folder-001/*", "", {"test-001", "test-002"}),
    ],
)
def test_prefix_copy_follows_the_s3copy_table(
    moto_server: S3Server,
    bucket_factory: BucketFactory,
    tmp_path: Path,
    src_path: str,
    dst_path: str,
    expected: set[str],
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    for name in ("test-001", "test-002"):
        client.put_object(Bucket=src, Key=f"folder-001/{name}", Body=name.encode())
    proc = run_cli(
        None,
        "cp",
        f"s3://{src}{src_path}",
        f"s3://{dst}{dst_path}",
        "--yes",
        env=cli_env(moto_server, tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=dst).get("Contents", [])}
    assert keys == expected
    for key in keys:
        assert body(client, dst, key) == key.rsplit("/", 1)[-1].encode()


def test_skip_same_content_and_replace_different(
    moto_server: S3Server, bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    for key, data in (("same", b"identical"), ("differs", b"version-2"), ("new", b"brand new")):
        client.put_object(Bucket=src, Key=key, Body=data)
    client.put_object(Bucket=dst, Key="same", Body=b"identical")  # put by some other tool
    client.put_object(Bucket=dst, Key="differs", Body=b"version-1")  # same size, other bytes
    env = cli_env(moto_server, tmp_path)
    plan = json_lines(
        run_cli(None, "cp", f"s3://{src}/*", f"s3://{dst}", "--dry-run", "--json", env=env).stdout
    )
    actions = {x["dst"].rsplit("/", 1)[-1]: x["action"] for x in plan if x["type"] == "planned"}
    assert actions == {"same": "skip", "differs": "replace", "new": "copy"}
    assert body(client, dst, "differs") == b"version-1"  # the dry run changed nothing
    assert "new" not in {o["Key"] for o in client.list_objects_v2(Bucket=dst)["Contents"]}

    proc = run_cli(None, "cp", f"s3://{src}/*", f"s3://{dst}", "--yes", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert {x["dst"].rsplit("/", 1)[-1] for x in lines if x["type"] == "skipped"} == {"same"}
    assert {x["dst"].rsplit("/", 1)[-1] for x in lines if x["type"] == "copied"} == {"differs", "new"}
    assert body(client, dst, "differs") == b"version-2"


def test_refusals_are_one_line_usage_errors(
    moto_server: S3Server,
    bucket_factory: BucketFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    client.put_object(Bucket=src, Key="k", Body=b"data")
    client.put_object(Bucket=dst, Key="there", Body=b"other data")
    for name, value in cli_env(moto_server, tmp_path).items():
        monkeypatch.setenv(name, value)
    cases = [
        # It would overwrite an object with other content: no --yes, stdin not a TTY.
        (["cp", f"s3://{src}/k", f"s3://{dst}/there"], "not a terminal): 1 existing object(s) with other"),
        (["--read-only", "cp", f"s3://{src}/k", f"s3://{dst}/k", "--yes"], "read-only"),
        (["cp", f"s3://{src}/k", f"s3://{dst}/k", "--yes", "--part-size", "4MiB"], "5MiB"),
        (["cp", f"s3://{src}/k", f"s3://{dst}/k", "--yes", "--part-size", "lots"], "bad size"),
        (["cp", "/tmp/x", f"s3://{dst}/k", "--yes"], "not an S3 URL"),
        (["cp", f"s3://{src}/k", f"s3://{src}/k", "--yes"], "same object"),
        (["cp", f"s3://{src}/a*b*", f"s3://{dst}", "--yes"], "trailing"),
        (["jobs", "abort", "0000", "--yes"], "no journaled job"),
    ]
    for args, message in cases:
        out, err = io.StringIO(), io.StringIO()
        try:
            code = cli_main(args, out=out, err=err)
        except SystemExit as exc:  # argparse's own usage errors go to sys.stderr
            code = int(exc.code or 0)
        text = err.getvalue() + capsys.readouterr().err
        assert code == 2, (args, text)
        assert message in text, (args, text)
        assert len(text.strip().splitlines()) == 1 and "Traceback" not in text
    err = io.StringIO()
    assert cli_main(["cp", f"s3://{src}/nope", f"s3://{dst}/", "--yes"], out=io.StringIO(), err=err) == 1
    assert "nothing to copy" in err.getvalue()
    assert [o["Key"] for o in client.list_objects_v2(Bucket=dst)["Contents"]] == ["there"]
    assert body(client, dst, "there") == b"other data"


def test_source_changing_mid_copy_aborts_cleanly(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """The source is overwritten after the first part: the job aborts its upload and writes nothing."""
    client = s3_server.client()
    src, dst = s3_bucket_factory(), s3_bucket_factory()
    client.put_object(Bucket=src, Key="moving", Body=os.urandom(16 * MIB))
    events: list[JobEvent] = []

    def on_event(event: JobEvent) -> None:
        events.append(event)
        if isinstance(event, PartSent) and sum(isinstance(e, PartSent) for e in events) == 1:
            client.put_object(Bucket=src, Key="moving", Body=os.urandom(16 * MIB))

    conn = S3Connection(s3_server.settings(concurrency=1))
    journal = Journal(tmp_path / "jobs")
    copier = Copier(conn, part_size=5 * MIB, journal=journal, on_event=on_event)
    summary = copier.run(copier.plan(parse_s3_url(f"s3://{src}/moving"), parse_s3_url(f"s3://{dst}/moving")))
    assert (summary.copied, summary.failed) == (0, 1)
    (failed,) = [e for e in events if isinstance(e, ObjectFailed)]
    assert "changed during the copy" in failed.error and not failed.resumable
    assert any(isinstance(e, JobAborted) for e in events)
    assert uploads_left(client, dst) == []
    assert client.list_objects_v2(Bucket=dst).get("KeyCount", 0) == 0
    assert journal.records() == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirmation_on_a_terminal_states_what_will_happen(
    moto_server: S3Server,
    bucket_factory: BucketFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    client.put_object(Bucket=src, Key="d/a", Body=b"new a")
    client.put_object(Bucket=src, Key="d/b", Body=b"new b!")
    client.put_object(Bucket=dst, Key="d/a", Body=b"old a")
    for name, value in cli_env(moto_server, tmp_path).items():
        monkeypatch.setenv(name, value)
    args = ["cp", f"s3://{src}/d", f"s3://{dst}"]

    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    out, err = io.StringIO(), io.StringIO()
    assert cli_main(args, out=out, err=err) == 1
    prompt = err.getvalue()
    assert prompt.startswith(
        f"1 existing object(s) with other content will be OVERWRITTEN:\n  s3://{dst}/d/a\n"
    )
    assert f"copy 2 object(s), 11 B, to s3://{dst}" in prompt
    assert "1 existing object(s) will be REPLACED" in prompt
    assert "nothing copied" in prompt
    assert body(client, dst, "d/a") == b"old a"

    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    out = io.StringIO()
    assert cli_main(args, out=out, err=io.StringIO()) == 0
    assert body(client, dst, "d/a") == b"new a" and body(client, dst, "d/b") == b"new b!"
    assert "copied 2 object(s)" in out.getvalue()


def test_copies_that_overwrite_nothing_need_no_question(
    s3_server: S3Server, s3_bucket_factory: BucketFactory, tmp_path: Path
) -> None:
    """New keys and identical objects: no question, and no --yes needed off a terminal (like aws s3 cp)."""
    client = s3_server.client()
    src, dst = s3_bucket_factory(), s3_bucket_factory()
    client.put_object(Bucket=src, Key="p/new", Body=b"new")
    client.put_object(Bucket=src, Key="p/same", Body=b"same")
    client.put_object(Bucket=dst, Key="p/same", Body=b"same")
    proc = run_cli(None, "cp", f"s3://{src}/p", f"s3://{dst}", "--json", env=cli_env(s3_server, tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert [x["dst"] for x in lines if x["type"] == "copied"] == [f"s3://{dst}/p/new"]
    assert [x["dst"] for x in lines if x["type"] == "skipped"] == [f"s3://{dst}/p/same"]
    assert body(client, dst, "p/new") == b"new"


@pytest.mark.parametrize("head_limit", [50, 1])
def test_plan_compares_with_the_destination_by_head_or_by_listing(
    moto_server: S3Server,
    bucket_factory: BucketFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    head_limit: int,
) -> None:
    monkeypatch.setattr("mputui.jobs.copy.HEAD_LIMIT", head_limit)
    client = moto_server.client()
    src, dst = bucket_factory(), bucket_factory()
    data = os.urandom(11 * MIB)
    for key, payload in (("p/same", b"same"), ("p/diff", b"aaaa"), ("p/new", b"new"), ("p/big", data)):
        client.put_object(Bucket=src, Key=key, Body=payload)
    client.put_object(Bucket=dst, Key="x/p/same", Body=b"same")
    client.put_object(Bucket=dst, Key="x/p/diff", Body=b"bbbb")
    conn = S3Connection(moto_server.settings())
    copier = Copier(conn, part_size=5 * MIB, journal=Journal(tmp_path))
    plan = copier.plan(parse_s3_url(f"s3://{src}/p"), parse_s3_url(f"s3://{dst}/x"))
    actions = {i.dst_key: (i.action, i.method, i.parts) for i in plan.items}
    assert actions == {
        "x/p/same": ("skip", "copy", 1),
        "x/p/diff": ("replace", "copy", 1),
        "x/p/new": ("copy", "copy", 1),
        "x/p/big": ("copy", "multipart", 3),
    }
    assert (plan.count("copy", "replace"), plan.size("copy", "replace")) == (3, 4 + 3 + len(data))
