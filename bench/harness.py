"""Shared benchmark plumbing: servers on loopback, a latency proxy in its own process, seeding, medians.

Benchmarks print ratios against a baseline measured in the same run, never absolute pass/fail thresholds.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import platformdirs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Server:
    """An S3 server process the benchmark talks to."""

    kind: str
    url: str
    access_key: str
    secret_key: str
    pid: int | None
    # Every process serving S3 (RGW: radosgw, the OSD and the monitor), for server CPU.
    pids: tuple[int, ...] = ()
    ceph_conf: str | None = None

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every process of the server."""
        return sum(cpu_seconds(p) for p in (self.pids or ((self.pid,) if self.pid else ())))

    def reclaim(self) -> None:
        """RGW: run its garbage collector now, so deleted objects free the OSD's memory (memstore)."""
        if self.ceph_conf:
            subprocess.run(
                ["radosgw-admin", "-c", self.ceph_conf, "gc", "process", "--include-all"],
                capture_output=True,
                check=False,
            )

    def client(self, url: str | None = None, pool: int = 64) -> Any:
        """A boto3 client (through ``url`` if given, e.g. the latency proxy)."""
        return boto3.client(
            "s3",
            endpoint_url=url or self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(
                max_pool_connections=pool, retries={"mode": "standard", "max_attempts": 5}
            ),
        )


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (and its threads) from /proc, 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return 0.0


@contextmanager
def moto_server() -> Iterator[Server]:
    """moto in server mode (``mputui demo --no-seed``) as a subprocess."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mputui", "demo", "--json", "--no-seed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        yield Server("moto", info["endpoint_url"], info["access_key"], info["secret_key"], proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def rgw_server() -> Iterator[Server | None]:
    """Ceph RGW via scripts/ceph-rgw.sh, or ``None`` (with the reason printed) where it cannot run."""
    if not (shutil.which("radosgw") or (os.geteuid() == 0 and shutil.which("apt-get"))):
        print("Ceph RGW unavailable here (needs root + apt or the ceph packages): using moto only")
        yield None
        return
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ceph-rgw.sh"), "up"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        print("Ceph RGW failed to boot:", proc.stderr[-500:])
        yield None
        return
    info = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    run = Path(info["CEPH_CONF"]).parent / "run"
    pids = {
        name: int((run / f"{name}.pid").read_text())
        for name in ("client.rgw.a", "osd.0", "mon.a")
        if (run / f"{name}.pid").exists()
    }
    yield Server(
        "rgw",
        info["S3_ENDPOINT"],
        info["S3_ACCESS_KEY"],
        info["S3_SECRET_KEY"],
        pids.get("client.rgw.a"),
        tuple(pids.values()),
        info["CEPH_CONF"],
    )


@dataclass(frozen=True)
class Proxy:
    """Where the client should send requests: the latency proxy (``pid``), or the server itself (no proxy)."""

    url: str
    pid: int | None

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the proxy process (0 without one)."""
        return cpu_seconds(self.pid)


@contextmanager
def latency_proxy(server: Server, rtt: float) -> Iterator[Proxy]:
    """The server behind bench/delayproxy.py (its own process), adding ``rtt`` seconds per exchange.

    ``rtt <= 0``: no proxy, the server's own URL.
    """
    if rtt <= 0:
        yield Proxy(server.url, None)
        return
    parts = urlsplit(server.url)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "delayproxy.py"),
            "--upstream",
            f"{parts.hostname}:{parts.port}",
            "--rtt",
            str(rtt),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with proc:  # closes its pipes and reaps it
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            yield Proxy(f"http://127.0.0.1:{port}", proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def seed_uploads(
    server: Server, prefix: str, buckets: int, uploads: int, parts_per_upload: int = 2, workers: int = 32
) -> list[str]:
    """Create ``buckets`` buckets holding ``uploads`` uploads in all (deterministic keys, tiny parts)."""
    client = server.client()
    names = [f"{prefix}-{i:03d}" for i in range(buckets)]
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in existing:
            client.create_bucket(Bucket=name)

    def have(name: str) -> int:
        return sum(
            len(p.get("Uploads", []))
            for p in client.get_paginator("list_multipart_uploads").paginate(Bucket=name)
        )

    per = uploads // buckets
    todo = [(b, f"data/{b}/{i:06d}.bin") for b in names for i in range(per - min(per, have(b)))]

    def one(item: tuple[str, str]) -> None:
        bucket, key = item
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for n in range(1, parts_per_upload + 1):
            client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=b"x" * (100 * n)
            )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, todo))
    return names


CORES = os.cpu_count() or 1


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to other guests so far, all cores (Linux /proc/stat; 0 elsewhere).

    A benchmark that ran while this was high ran on less machine than it seems: its rows say so.
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_pct(cpu_s: float, wall_s: float) -> float:
    """CPU seconds over wall seconds as a percentage of all the machine's cores (100 = every core busy)."""
    return 100 * cpu_s / wall_s / CORES if wall_s else 0.0


def median_of(runs: int, fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run ``fn`` ``runs`` times; the median of each metric it returns."""
    results = [fn() for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table."""
    print(f"\n{title}")
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write the JSON result file (bench/results/NAME.json)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


AWSCLI_VENV = platformdirs.user_cache_path("mputui-bench") / "awscli-venv"


def awscli(path: str | None) -> tuple[str | None, str]:
    """(aws binary, its version): ``path`` if given, else the bench venv's (created with pip on first use)."""
    aws = Path(path) if path else AWSCLI_VENV / "bin" / "aws"
    if path is None and not aws.exists():
        print(f"creating {AWSCLI_VENV} (pip install awscli) ...", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=False).returncode == 0
        pip = [str(AWSCLI_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "awscli"]
        if not made or subprocess.run(pip, check=False).returncode != 0 or not aws.exists():
            return None, "aws-cli could not be installed"
    proc = subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=False)
    return str(aws), (proc.stdout or proc.stderr).strip()


class Meter:
    """What one measured run costs: started at construction, read once with ``stop()``.

    ``wall``, this process's CPU, the server's and the latency proxy's CPU seconds, and ``steal_pct``: other
    guests' share of this machine's cores during the run (hypervisor steal).
    """

    def __init__(self, server: Server, proxy: Proxy) -> None:
        self.server, self.proxy = server, proxy
        self.t0 = time.perf_counter()
        self._steal0, self._cpu0 = steal_seconds(), time.process_time()
        self._srv0, self._px0 = server.cpu_seconds(), proxy.cpu_seconds()

    def elapsed(self) -> float:
        """Seconds since the start (e.g. to the first result)."""
        return time.perf_counter() - self.t0

    def stop(self) -> None:
        self.wall = self.elapsed()
        self.cpu = time.process_time() - self._cpu0
        self.server_cpu = self.server.cpu_seconds() - self._srv0
        self.proxy_cpu = self.proxy.cpu_seconds() - self._px0
        self.steal_pct = cpu_pct(steal_seconds() - self._steal0, self.wall)
