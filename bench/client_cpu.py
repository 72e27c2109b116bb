"""Client CPU per request of a scan: the lean path with botocore-resolved routes, through a proxy, vs boto3.

    python bench/client_cpu.py [--server moto|rgw] [--uploads 2000] [--buckets 20] [--runs 3] [--baseline-rev REV]

Every measured scan runs in a fresh process and counts only the scan (``time.process_time()`` around it, all
threads) divided by the HTTP requests it sent. In one run, on the same seeded account:

- ``lean``: this tree, direct (routes asked of botocore once per bucket);
- ``lean @REV``: the same scan with the mputui of git revision REV (default: the commit before routes were
  asked of botocore), from a temporary worktree: what the change cost;
- ``lean via proxy`` / ``boto3 via proxy``: the endpoint as a hostname only an HTTP forward proxy (its own
  process, tests/forwardproxy.py) can reach: the event loop speaking the proxy vs stepping aside for boto3;
- ``boto3``: ``MPUTUI_LEAN=0``, direct.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import (
    ROOT,
    Server,
    moto_server,
    print_table,
    rgw_server,
    seed_uploads,
    write_result,
)

HOST = "s3.mputui.test"  # resolves nowhere: only the proxy can reach it
DEFAULT_BASELINE = "fe9135e"  # the last commit before the lean path asked botocore for its routes

# Runs in a fresh interpreter, against whichever mputui PYTHONPATH names (this tree or a worktree of REV).
MEASURE = r"""
import json, sys, time
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.inventory import InventoryScan
from mputui.s3.models import UploadFound
endpoint, key, secret = sys.argv[1:4]
conn = S3Connection(ConnectionSettings(endpoint_url=endpoint, region="us-east-1", path_style=True,
                                       demo_credentials=(key, secret), concurrency=32))
conn.client()
start_cpu, start_wall, start_requests = time.process_time(), time.perf_counter(), conn.requests
uploads = sum(1 for e in InventoryScan(conn).events() if isinstance(e, UploadFound) and e.upload.size is not None)
cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
print(json.dumps({"uploads": uploads, "requests": conn.requests - start_requests, "cpu_s": cpu, "wall_s": wall}))
"""

PROXY = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from forwardproxy import ForwardProxy
proxy = ForwardProxy(hosts={sys.argv[2]: (sys.argv[3], int(sys.argv[4]))}).start()
print(proxy.port, flush=True)
sys.stdin.read()
proxy.stop()
"""


@contextmanager
def forward_proxy(server: Server) -> Iterator[str]:
    """An HTTP forward proxy in its own process (its CPU is not the client's); yields its URL."""
    parts = urlsplit(server.url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROXY,
            str(ROOT / "tests"),
            HOST,
            parts.hostname or "127.0.0.1",
            str(parts.port),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mputui-baseline-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                check=False,
                capture_output=True,
            )


def measure(
    server: Server, endpoint: str, tree: Path, env: dict[str, str], expected: int
) -> dict[str, float]:
    run_env = {**os.environ, "PYTHONPATH": str(tree), "AWS_EC2_METADATA_DISABLED": "true", **env}
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, endpoint, server.access_key, server.secret_key],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tree,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise SystemExit(f"scan failed ({endpoint}): {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    if result["uploads"] != expected:
        raise SystemExit(f"scan found {result['uploads']} sized uploads, expected {expected} ({endpoint})")
    return {
        "requests": result["requests"],
        "wall_s": result["wall_s"],
        "cpu_ms_per_request": 1000 * result["cpu_s"] / result["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=["moto", "rgw"], default="moto")
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-rev", default=DEFAULT_BASELINE)
    args = parser.parse_args()
    # moto takes a dotted Host for a virtual-hosted bucket unless it is named here (RGW: any unknown host is
    # path-style).
    os.environ["MOTO_S3_CUSTOM_ENDPOINTS"] = f"http://{HOST}"
    context = moto_server() if args.server == "moto" else rgw_server()
    with context as server:
        if server is None:
            raise SystemExit("no server")
        seed_uploads(server, "cpu", args.buckets, args.uploads)
        expected = (args.uploads // args.buckets) * args.buckets
        rows: list[dict[str, Any]] = []
        with forward_proxy(server) as proxy_url, worktree(args.baseline_rev) as old:
            configs = [
                ("lean", server.url, ROOT, {}),
                (f"lean @{args.baseline_rev}", server.url, old, {}),
                ("lean via proxy", f"http://{HOST}", ROOT, {"HTTP_PROXY": proxy_url}),
                ("boto3 via proxy", f"http://{HOST}", ROOT, {"HTTP_PROXY": proxy_url, "MPUTUI_LEAN": "0"}),
                ("boto3", server.url, ROOT, {"MPUTUI_LEAN": "0"}),
            ]
            # Interleaved (every configuration once per round), and each ratio taken within its round: a
            # machine whose load drifts during the run shifts all of a round alike.
            results: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in configs}
            for round_ in range(args.runs):
                for name, endpoint, tree, env in configs:
                    results[name].append(measure(server, endpoint, tree, env, expected))
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{n} {r[-1]['cpu_ms_per_request']:.3f}" for n, r in results.items()),
                    flush=True,
                )
        base_name = configs[1][0]
        for name, runs in results.items():
            row: dict[str, Any] = {"scan": name}
            row.update({k: statistics.median(r[k] for r in runs) for k in runs[0]})
            row["vs_baseline"] = statistics.median(
                r["cpu_ms_per_request"] / b["cpu_ms_per_request"]
                for r, b in zip(runs, results[base_name], strict=True)
            )
            rows.append(row)
        print_table(
            f"client CPU per request, {expected} uploads in {args.buckets} buckets on {server.kind} "
            f"(medians of {args.runs} interleaved rounds; vs_baseline: median of the ratios within a round)",
            rows,
            ["scan", "requests", "wall_s", "cpu_ms_per_request", "vs_baseline"],
        )
        write_result("client_cpu", {"server": server.kind, "uploads": expected, "rows": rows})


if __name__ == "__main__":
    main()
