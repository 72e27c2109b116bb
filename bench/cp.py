"""Copy benchmark: ``mputui cp`` (server-side, multipart) vs ``aws s3 cp`` on the same server; and a resume.

    python bench/cp.py [--size 1GiB] [--part-size 64MiB] [--runs 3] [--server rgw|moto]

Reports wall time, bytes that went through the client (read + written by the process beyond a bare start of the
same tool, from /proc: ~0 for a server-side copy) and, for the resume, the time of ``mputui cp`` re-run after a copy killed at 50% vs a full copy
(target <= 0.6x). The baseline is aws-cli from PyPI in the benchmark's own venv (created on first use under the
platformdirs cache dir, ``~/.cache/mputui-bench/awscli-venv`` on Linux, with ``pip install awscli``; ``--aws PATH``
uses another binary); its version is printed and written to the results. On RGW, deleted copies are garbage
collected (``radosgw-admin gc process``) between runs so that a memstore OSD holds the 1 GiB runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import Server, awscli, moto_server, print_table, rgw_server, write_result
from mputui.parsing import parse_size


def _env(server: Server, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.url,
        MPUTUI_HOME=home,
    )
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, bytes through the client, exit code) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    io = 0
    while proc.poll() is None:
        try:
            fields = dict(line.split(": ") for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines())
            io = int(fields["rchar"]) + int(fields["wchar"])
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    return time.perf_counter() - t0, io, proc.returncode


def _parts_present(client: Any, bucket: str, key: str) -> int:
    """Parts the server lists for the in-progress uploads of ``key``."""
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return sum(
        len(client.list_parts(Bucket=bucket, Key=key, UploadId=u["UploadId"]).get("Parts", []))
        for u in uploads
        if u["Key"] == key
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--part-size", default="64MiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=["moto", "rgw"], default="rgw")
    parser.add_argument("--aws", help="aws binary to compare with (default: the bench venv's)")
    args = parser.parse_args()
    size, part = parse_size(args.size), parse_size(args.part_size)
    aws, aws_version = awscli(args.aws)
    print(f"baseline: {aws_version}", flush=True)
    rows: list[dict[str, Any]] = []
    home = f"/tmp/mputui-bench-copy-{os.getpid()}"
    with moto_server() as moto, rgw_server() as rgw:
        server = rgw if args.server == "rgw" and rgw is not None else moto
        client = server.client()
        bucket = "bench-copy"
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)
        print(f"uploading a {args.size} source object to {server.kind} ...", flush=True)
        block = os.urandom(8 * 1024 * 1024)
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="src")["UploadId"]
        etags = []
        for n, offset in enumerate(range(0, size, len(block)), start=1):
            body = block[: min(len(block), size - offset)]
            etags.append(
                client.upload_part(Bucket=bucket, Key="src", UploadId=upload_id, PartNumber=n, Body=body)[
                    "ETag"
                ]
            )
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="src",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, start=1)]},
        )
        env = _env(server, home)
        mputui = [sys.executable, "-m", "mputui", "cp", f"s3://{bucket}/src", f"s3://{bucket}/dst", "--yes"]
        mputui += ["--part-size", args.part_size]
        # rchar/wchar count file reads too (Python's imports): subtract what a bare start of each tool costs.
        startup = {"mputui": _run([sys.executable, "-m", "mputui", "--version"], env)[1]}
        if aws:
            startup["aws"] = _run([aws, "--version"], env)[1]
        results: dict[str, list[tuple[float, int]]] = {
            "mputui cp": [],
            "aws s3 cp": [],
            "mputui resume at 50%": [],
        }

        def clean(*keys: str) -> None:
            # Only the source and one copy at a time: a memstore OSD must hold them all.
            for key in keys:
                client.delete_object(Bucket=bucket, Key=key)
            server.reclaim()

        present: list[int] = []
        for _ in range(args.runs):
            clean("dst", "dst-aws")
            wall, io, rc = _run(mputui, env)
            if rc != 0:
                raise SystemExit("mputui cp failed")
            results["mputui cp"].append((wall, io - startup["mputui"]))
            if aws:
                clean("dst")
                wall, io, rc = _run(
                    [
                        aws,
                        "s3",
                        "cp",
                        f"s3://{bucket}/src",
                        f"s3://{bucket}/dst-aws",
                        "--endpoint-url",
                        server.url,
                    ],
                    env,
                )
                if rc == 0:
                    results["aws s3 cp"].append((wall, io - startup["aws"]))
            # Resume: kill the copy after half its parts, then time the re-run alone. The killed run copies one
            # part at a time: with parts in flight at once, RGW finishes them after the kill and the "resume"
            # would find (nearly) every part done.
            clean("dst", "dst-aws")
            half = max(1, (size + part - 1) // part // 2)
            _run([*mputui, "--concurrency", "1"], {**env, "MPUTUI_TEST_CRASH_AFTER_PARTS": str(half)})
            present.append(_parts_present(client, bucket, "dst"))
            wall, io, rc = _run(mputui, env)
            if rc != 0:
                raise SystemExit("resumed mputui cp failed")
            results["mputui resume at 50%"].append((wall, io - startup["mputui"]))
        full = statistics.median(w for w, _ in results["mputui cp"])
        for name, runs in results.items():
            if not runs:
                rows.append({"copy": name, "server": server.kind, "wall_s": None, "note": aws_version})
                continue
            wall = statistics.median(w for w, _ in runs)
            rows.append(
                {
                    "copy": name,
                    "server": server.kind,
                    "size": args.size,
                    "wall_s": wall,
                    "client_io_MiB": statistics.median(io for _, io in runs) / 2**20,
                    "x_mputui_full": wall / full,
                }
            )
        clean("src", "dst", "dst-aws")
    shutil.rmtree(home, ignore_errors=True)
    print_table(
        "copy (medians)", rows, ["copy", "server", "size", "wall_s", "client_io_MiB", "x_mputui_full"]
    )
    print(f"baseline: {aws_version}")
    parts = (size + part - 1) // part
    print(f"parts present when the resume started: {present} of {parts}")
    write_result(
        "copy",
        {
            "rows": rows,
            "runs": args.runs,
            "part_size": args.part_size,
            "aws_cli": aws_version,
            "parts": parts,
            "parts_present_at_resume": present,
        },
    )


if __name__ == "__main__":
    main()
