"""Put/resume benchmark: ``mputui put`` of one big file vs ``aws s3 cp`` on the same server, and ``mputui resume``
with half the parts already uploaded vs the full upload.

    python bench/put.py [--size 1GiB] [--part-size 16MiB] [--concurrency 8] [--runs 3] [--server rgw|moto]

Every measured command runs as a subprocess (interpreter start-up included, as for the aws CLI), against the
same server, with the same part size and concurrency (aws gets them through a temporary AWS config file:
``multipart_chunksize``, ``max_concurrent_requests``). Printed: wall time, MiB/s, peak RSS of the process, and
ratios against the baselines measured in the same run. The resume target is ≤ 0.6 x the full upload. Without the
aws CLI the comparison row says so instead of failing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import Server, awscli, moto_server, print_table, rgw_server, write_result
from mputui.parsing import parse_size

MIB = 1024 * 1024
TIMEOUT = 600.0  # seconds one command may take
COLUMNS = ["case", "seconds", "MiB/s", "peak_rss_MiB", "ratio", "note"]


def make_file(path: Path, size: int) -> None:
    """A file of random-looking bytes (incompressible, cheap to make: a 1 MiB random block, varied)."""
    block = os.urandom(MIB)
    with path.open("wb") as f:
        for i in range(0, size, MIB):
            f.write(hashlib.md5(i.to_bytes(8, "big")).digest() + block[16 : min(MIB, size - i)])


def env_for(server: Server, home: Path, concurrency: int, part_size: int) -> dict[str, str]:
    config = home / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\ns3 =\n"
        f"  multipart_chunksize = {part_size}\n  multipart_threshold = {part_size}\n"
        f"  max_concurrent_requests = {concurrency}\n  addressing_style = path\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.url,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        MPUTUI_HOME=str(home / "mputui"),
    )
    return env


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, peak RSS MiB of exactly that child, from wait4). Raises on failure."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        # A server that stops answering (e.g. a full OSD) must not hang the whole benchmark.
        watchdog = threading.Timer(TIMEOUT, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(
                f"{cmd[:4]} failed ({proc.returncode}): {err.read()[-500:].decode(errors='replace')}"
            )
    return wall, usage.ru_maxrss / 1024


def half_uploaded(server: Server, bucket: str, key: str, path: Path, part_size: int) -> str:
    """An upload holding the first half of the file's parts, as a client that died half way left it."""
    client = server.client()
    upload_id: str = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    size = path.stat().st_size
    total = -(-size // part_size)
    with path.open("rb") as f:
        for n in range(1, total // 2 + 1):
            client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=f.read(part_size)
            )
    return upload_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--part-size", default="16MiB")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=["moto", "rgw"], default="rgw")
    parser.add_argument(
        "--aws", help="aws binary to compare with (default: aws-cli from PyPI in the bench venv)"
    )
    args = parser.parse_args()
    size, part_size = parse_size(args.size), parse_size(args.part_size)
    aws, aws_version = awscli(args.aws)
    print(f"baseline: {aws_version}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="mputui-bench-put-"))
    try:
        path = scratch / "big.bin"
        print(f"making a {args.size} file ...", flush=True)
        make_file(path, size)
        with moto_server() as moto, rgw_server() as rgw:
            server = rgw if args.server == "rgw" and rgw is not None else moto
            print(
                f"server: {server.kind}; part size {args.part_size}; concurrency {args.concurrency}",
                flush=True,
            )
            env = env_for(server, scratch, args.concurrency, part_size)
            bucket = f"benchput-{os.getpid()}"
            client = server.client()
            client.create_bucket(Bucket=bucket)
            mputui = [sys.executable, "-m", "mputui", "--concurrency", str(args.concurrency)]
            times: dict[str, list[float]] = {"put": [], "aws": [], "resume": []}
            rss: dict[str, list[float]] = {"put": [], "aws": [], "resume": []}
            notes: dict[str, str] = {}
            for run in range(args.runs):
                try:
                    key = f"put-{run}.bin"
                    wall, peak = timed(
                        [*mputui, "put", str(path), f"s3://{bucket}/{key}", "--mode", "always", "--part-size",
                         args.part_size, "--yes", "--no-dedupe"],
                        env,
                    )  # fmt: skip
                    times["put"].append(wall)
                    rss["put"].append(peak)
                    client.delete_object(Bucket=bucket, Key=key)
                    server.reclaim()  # a memstore OSD holds one 1 GiB object at a time, not nine
                    if aws:
                        try:
                            wall, peak = timed([aws, "s3", "cp", str(path), f"s3://{bucket}/aws-{run}.bin",
                                                "--endpoint-url", server.url, "--only-show-errors"], env)  # fmt: skip
                            times["aws"].append(wall)
                            rss["aws"].append(peak)
                        except RuntimeError as exc:
                            notes["aws"] = f"aws s3 cp failed: {exc}"
                        client.delete_object(Bucket=bucket, Key=f"aws-{run}.bin")
                        server.reclaim()
                    else:
                        notes["aws"] = f"no comparison: {aws_version}"
                    key = f"resume-{run}.bin"
                    upload_id = half_uploaded(server, bucket, key, path, part_size)
                    wall, peak = timed(
                        [*mputui, "resume", f"s3://{bucket}/{key}", "--upload-id", upload_id, "--file", str(path),
                         "--yes"],
                        env,
                    )  # fmt: skip
                    times["resume"].append(wall)
                    rss["resume"].append(peak)
                    client.delete_object(Bucket=bucket, Key=key)
                    server.reclaim()
                    print(
                        f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v),
                        flush=True,
                    )
                except Exception as exc:  # e.g. the server went away: keep the runs that completed
                    print(f"run {run + 1} failed: {str(exc)[-300:]}", flush=True)
                    break
            with contextlib.suppress(Exception):
                client.delete_bucket(Bucket=bucket)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not times["put"]:
        print("no run completed")
        return
    med = {k: statistics.median(v) for k, v in times.items() if v}
    rows: list[dict[str, Any]] = []
    mib = size / MIB
    for case, label, base, note in (
        ("put", "mputui put (full upload)", None, "baseline for resume"),
        ("aws", "aws s3 cp (full upload)", "put", "ratio: aws / mputui"),
        ("resume", "mputui resume (half the parts there)", "put", "ratio: resume / full put; target <= 0.6"),
    ):
        if case not in med:
            rows.append({"case": label, "note": notes.get(case, "not run")})
            continue
        ratio = med[case] / med[base] if base and base in med else None
        rows.append(
            {
                "case": label,
                "seconds": med[case],
                "MiB/s": mib / med[case],
                "peak_rss_MiB": max(rss[case]),
                "ratio": ratio,
                "note": notes.get(case, note),
            }
        )
    print_table(f"put/resume of {args.size} in {args.part_size} parts, concurrency {args.concurrency} "
                f"(medians of {args.runs})", rows, COLUMNS)  # fmt: skip
    write_result(
        "put",
        {
            "server": server.kind,
            "baseline": aws_version,
            "size": size,
            "part_size": part_size,
            "concurrency": args.concurrency,
            "runs": args.runs,
            "rows": rows,
            "raw_seconds": times,
            "memory_bound_MiB": args.concurrency * part_size / MIB,
        },
    )


if __name__ == "__main__":
    main()
