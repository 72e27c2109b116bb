"""``python -m bench``: run every benchmark in turn with the arguments of the README's table (each prints ratios
against a baseline measured in the same run and writes bench/results/NAME.json). Where Ceph RGW cannot run, the
benchmarks fall back to moto and say so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["inventory.py", "--server", "rgw", "--big", "--baseline-runs", "1"],
    ["abort.py", "--server", "rgw", "--uploads", "2000"],
    ["cp.py", "--server", "rgw", "--size", "1GiB"],
    ["put.py"],
    ["tui_scale.py"],
]


def main() -> int:
    failed = []
    for name, *args in BENCHMARKS:
        print(f"\n=== {name} {' '.join(args)} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *args], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
