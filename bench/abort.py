"""Bulk-abort benchmark: mputui's concurrent exact-target aborts vs sequential aborts, same uploads.

    python bench/abort.py [--runs 3] [--uploads 2000] [--rtt 0,0.02] [--server moto|rgw]

Each run seeds the same uploads again, then aborts them all: the baseline one at a time with boto3 (as the
DreamObjects script does after its prompt), mputui with ``mputui.jobs.abort.abort_uploads`` (concurrency 32,
so 64 DELETEs in flight; a commit that raced an abort is looked for with one listing of the aborted keys' range per batch). Prints medians, the speed-up, requests/s and
the server's CPU (RGW: radosgw + OSD + monitor) as a percentage of all the machine's cores (near 100 the
server, not the client, sets the pace), and the latency proxy's CPU ms per request (bench/delayproxy.py).
"""

from __future__ import annotations

import argparse
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
    moto_server,
    print_table,
    rgw_server,
    seed_uploads,
    write_result,
)
from mputui.jobs.abort import IN_FLIGHT_PER_WORKER, abort_uploads
from mputui.s3.connect import ConnectionSettings, S3Connection
from mputui.s3.inventory import iter_upload_pages

CONCURRENCY = 32


def _targets(conn: S3Connection, bucket: str) -> list[Any]:
    return [u for page in iter_upload_pages(conn, bucket) for u in page]


def sequential(server: Server, proxy: Proxy, bucket: str) -> dict[str, float]:
    client = server.client(proxy.url, pool=2)
    uploads = [
        u
        for p in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for u in p.get("Uploads", [])
    ]
    meter = Meter(server, proxy)
    for u in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    meter.stop()
    return _metrics(len(uploads), len(uploads), meter)


def _metrics(aborted: int, requests: int, meter: Meter) -> dict[str, float]:
    wall, server_cpu = meter.wall, meter.server_cpu
    return {
        "aborted": float(aborted),
        "requests": float(requests),
        "wall_s": wall,
        "per_s": aborted / wall,
        "req_per_s": requests / wall,
        "client_cpu_pct": cpu_pct(meter.cpu, wall),
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_abort": 1000 * server_cpu / aborted if aborted else 0.0,
        "server_cpu_pct": cpu_pct(server_cpu, wall),
        # The wall time the server's own CPU work would take with every core to itself: no client can be faster.
        "server_floor_s": server_cpu / CORES,
        # The latency proxy's CPU (0 without one): what the machine spends emulating the network.
        "proxy_cpu_ms_per_req": 1000 * meter.proxy_cpu / requests if requests else 0.0,
        # Other guests' share of this machine's cores during the run (hypervisor steal).
        "steal_pct": meter.steal_pct,
    }


def concurrent(server: Server, proxy: Proxy, bucket: str) -> dict[str, float]:
    conn = S3Connection(
        ConnectionSettings(
            endpoint_url=proxy.url,
            demo_credentials=(server.access_key, server.secret_key),
            concurrency=CONCURRENCY,
        )
    )
    targets = _targets(conn, bucket)
    requests0 = conn.requests
    meter = Meter(server, proxy)
    ok = sum(1 for r in abort_uploads(conn, targets) if r.ok or r.already_gone)
    meter.stop()
    return _metrics(ok, conn.requests - requests0, meter)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--rtt", default="0,0.02")
    parser.add_argument("--server", choices=["moto", "rgw"], default="moto")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with moto_server() as moto, rgw_server() as rgw:
        server = rgw if args.server == "rgw" and rgw is not None else moto
        for rtt in (float(x) for x in args.rtt.split(",")):
            results: dict[str, list[dict[str, float]]] = {"sequential": [], "mputui": []}
            with latency_proxy(server, rtt) as proxy:
                for _ in range(args.runs):
                    for name, fn in (("sequential", sequential), ("mputui", concurrent)):
                        (bucket,) = seed_uploads(server, f"abort-{name}", 1, args.uploads, parts_per_upload=0)
                        results[name].append(fn(server, proxy, bucket))
            medians = {
                name: {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
                for name, runs in results.items()
            }
            for name, m in medians.items():
                if m["aborted"] != args.uploads:
                    raise SystemExit(f"{name} aborted {m['aborted']} of {args.uploads}")
                rows.append(
                    {
                        "server": server.kind,
                        "rtt_ms": int(rtt * 1000),
                        "aborter": name,
                        **m,
                        "speedup": medians["sequential"]["wall_s"] / m["wall_s"],
                        # The speed-up if mputui took exactly the server's floor (the machine's ceiling).
                        "server_bound_speedup": medians["sequential"]["wall_s"] / m["server_floor_s"],
                    }
                )
            print_table("bulk abort (medians so far)", rows, list(rows[0]))
    write_result(
        "abort",
        {
            "rows": rows,
            "runs": args.runs,
            "uploads": args.uploads,
            "concurrency": CONCURRENCY,
            "in_flight": IN_FLIGHT_PER_WORKER * CONCURRENCY,
            "cores": CORES,
        },
    )


if __name__ == "__main__":
    main()
