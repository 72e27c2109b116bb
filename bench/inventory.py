"""Inventory benchmark: mputui's concurrent scanner vs the DreamObjects cleanup script's sequential algorithm.

    python bench/inventory.py [--runs 3] [--rtt 0,0.02] [--uploads 2000] [--buckets 20] [--big]

The baseline is the DreamObjects script (seeds/000) ported faithfully to boto3: for each bucket, for each
upload, list its parts, one request at a time. Both find every upload with its exact size. Printed: wall time,
requests, requests/s, time to the first upload delivered, client CPU ms per request, server CPU seconds, and the
ratio to the lower bound ``requests * RTT / concurrency``, the server's CPU (RGW: radosgw + OSD + monitor) as
a percentage of all the machine's cores, and the latency proxy's CPU ms per request (bench/delayproxy.py:
CPU a real network would not take from the client and server). ``--big`` adds 20,000 uploads in 50 buckets
(on RGW when it is available, else on moto, saying so), by default without the sequential baseline
(``--big-baseline-runs``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import (
    CORES,
    Meter,
    Proxy,
    Server,
    cpu_pct,
    latency_proxy,
    median_of,
    moto_server,
    print_table,
    rgw_server,
    seed_uploads,
    write_result,
)
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.inventory import InventoryScan
from mputui.s3.models import UploadFound

CONCURRENCY = 32


def sequential_scan(server: Server, proxy: Proxy, buckets: set[str]) -> dict[str, float]:
    """The DreamObjects script's algorithm, in boto3: every bucket, every upload, its parts, sequentially."""
    client = server.client(proxy.url, pool=2)
    requests = 0

    def count(**_: Any) -> None:
        nonlocal requests
        requests += 1

    client.meta.events.register("before-send.s3", count)
    meter = Meter(server, proxy)
    first = None
    uploads = size = 0
    for b in client.list_buckets()["Buckets"]:
        if b["Name"] not in buckets:
            continue
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=b["Name"]):
            for mpu in page.get("Uploads", []):
                total = 0
                for ppage in client.get_paginator("list_parts").paginate(
                    Bucket=b["Name"], Key=mpu["Key"], UploadId=mpu["UploadId"]
                ):
                    total += sum(p["Size"] for p in ppage.get("Parts", []))
                uploads += 1
                size += total
                if first is None:
                    first = meter.elapsed()
    meter.stop()
    metrics = _metrics(
        meter.wall, requests, first, meter.cpu, meter.server_cpu, meter.proxy_cpu, uploads, size
    )
    metrics["steal_pct"] = meter.steal_pct
    return metrics


def mputui_scan(server: Server, proxy: Proxy, buckets: set[str]) -> dict[str, float]:
    """mputui's InventoryScan over every bucket (the bench buckets are the only ones counted)."""
    conn = S3Connection(
        ConnectionSettings(
            endpoint_url=proxy.url,
            demo_credentials=(server.access_key, server.secret_key),
            concurrency=CONCURRENCY,
        )
    )
    # Like the baseline's boto3 client, the connection's client is made before the clock starts.
    conn.client()
    # Only the benchmark's buckets (the server may hold the other dataset too); ListBuckets is still sent.
    listed = conn.list_bucket_names
    conn.list_bucket_names = lambda: [n for n in listed() if n in buckets]  # type: ignore[method-assign]
    meter = Meter(server, proxy)
    first = None
    uploads = size = 0
    for event in InventoryScan(conn).events():
        if isinstance(event, UploadFound) and event.upload.bucket in buckets:
            uploads += 1
            size += event.upload.size or 0
            if first is None:
                first = meter.elapsed()
    meter.stop()
    metrics = _metrics(
        meter.wall, conn.requests, first, meter.cpu, meter.server_cpu, meter.proxy_cpu, uploads, size
    )
    metrics["steal_pct"] = meter.steal_pct
    return metrics


def _metrics(
    wall: float,
    requests: int,
    first: float | None,
    cpu: float,
    server_cpu: float,
    proxy_cpu: float,
    uploads: int,
    size: int,
) -> dict[str, float]:
    return {
        "wall_s": wall,
        "requests": float(requests),
        "req_per_s": requests / wall if wall else 0.0,
        "first_upload_s": first if first is not None else float("nan"),
        "client_cpu_ms_per_req": 1000 * cpu / requests if requests else 0.0,
        "client_cpu_pct": cpu_pct(cpu, wall),
        "server_cpu_s": server_cpu,
        "server_cpu_pct": cpu_pct(server_cpu, wall),
        # The wall time the server's own CPU work would take with every core to itself: no client can be faster.
        "server_floor_s": server_cpu / CORES,
        # The latency proxy's CPU (0 without one): what the machine spends emulating the network.
        "proxy_cpu_ms_per_req": 1000 * proxy_cpu / requests if requests else 0.0,
        "uploads": float(uploads),
        "bytes": float(size),
    }


def bench(
    server: Server, label: str, buckets: list[str], rtts: list[float], runs: int, baseline_runs: int
) -> list[dict[str, Any]]:
    """Rows for one dataset; ``baseline_runs=0`` skips the (slow) sequential baseline."""
    rows: list[dict[str, Any]] = []
    names = set(buckets)
    expected = len(buckets)
    for rtt in rtts:
        with latency_proxy(server, rtt) as proxy:
            base = (
                median_of(baseline_runs, functools.partial(sequential_scan, server, proxy, names))
                if baseline_runs
                else None
            )
            ours = median_of(runs, functools.partial(mputui_scan, server, proxy, names))
        if base is not None and (base["uploads"] != ours["uploads"] or base["bytes"] != ours["bytes"]):
            raise SystemExit(f"results differ: baseline {base} vs mputui {ours}")
        if not ours["uploads"] or not expected:
            raise SystemExit(f"mputui found no uploads: {ours}")
        bound = ours["requests"] * rtt / CONCURRENCY
        measured = [("sequential (DreamObjects)", base)] if base is not None else []
        measured.append((f"mputui (concurrency {CONCURRENCY})", ours))
        for name, m in measured:
            assert m is not None
            rows.append(
                {
                    "dataset": label,
                    "server": server.kind,
                    "rtt_ms": int(rtt * 1000),
                    "scanner": name,
                    **m,
                    "speedup": base["wall_s"] / m["wall_s"] if base is not None else None,
                    # The speed-up if the scan took exactly the server's floor (the machine's ceiling).
                    "server_bound_speedup": base["wall_s"] / m["server_floor_s"]
                    if base is not None
                    else None,
                    "x_lower_bound": m["wall_s"] / bound if bound else None,
                }
            )
    return rows


COLUMNS = [
    "dataset",
    "server",
    "rtt_ms",
    "scanner",
    "uploads",
    "requests",
    "wall_s",
    "req_per_s",
    "first_upload_s",
    "client_cpu_ms_per_req",
    "client_cpu_pct",
    "server_cpu_pct",
    "server_floor_s",
    "steal_pct",
    "proxy_cpu_ms_per_req",
    "speedup",
    "server_bound_speedup",
    "x_lower_bound",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rtt", default="0,0.02", help="comma-separated round-trip times in seconds")
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=20)
    parser.add_argument("--big", action="store_true", help="also 20,000 uploads in 50 buckets")
    parser.add_argument("--big-only", action="store_true", help="only the 20,000-upload dataset")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=None,
        help="runs of the sequential baseline (default: --runs; 0 skips it)",
    )
    parser.add_argument(
        "--big-baseline-runs",
        type=int,
        default=0,
        help="runs of the sequential baseline on the 20,000-upload dataset (default 0: ~15 min a run)",
    )
    parser.add_argument(
        "--server", choices=["moto", "rgw"], default="moto", help="server for the main dataset"
    )
    args = parser.parse_args()
    rtts = [float(x) for x in args.rtt.split(",")]
    rows: list[dict[str, Any]] = []
    with moto_server() as moto, rgw_server() as rgw:
        main_server = rgw if args.server == "rgw" and rgw is not None else moto
        baseline_runs = args.runs if args.baseline_runs is None else args.baseline_runs
        if not args.big_only:
            print(
                f"seeding {args.uploads} uploads in {args.buckets} buckets on {main_server.kind} ...",
                flush=True,
            )
            names = seed_uploads(main_server, "inv", args.buckets, args.uploads)
            label = f"{args.uploads}/{args.buckets}"
            rows += bench(main_server, label, names, rtts, args.runs, baseline_runs)
            print_table("inventory", rows, COLUMNS)
        if args.big or args.big_only:
            target = rgw or moto
            if rgw is None:
                print("20,000-upload dataset on moto (RGW unavailable)")
            print(f"seeding 20000 uploads in 50 buckets on {target.kind} ...", flush=True)
            big = seed_uploads(target, "invbig", 50, 20000, parts_per_upload=1)
            rows += bench(target, "20000/50", big, rtts, args.runs, args.big_baseline_runs)
    print_table("inventory (medians)", rows, COLUMNS)
    write_result(
        "inventory",
        {"rows": rows, "runs": args.runs, "concurrency": CONCURRENCY, "cores": CORES},
    )


if __name__ == "__main__":
    main()
