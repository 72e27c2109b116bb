"""``python -m bench``: run every benchmark in turn with the arguments of the README's table (each prints ratios
against a baseline measured in the same run and writes bench/results/NAME.json). Where Ceph RGW cannot run, the
benchmarks fall back to moto and say so."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ["inventory.py", "--server", "rgw", "--big"],
    ["abort.py", "--server", "rgw", "--uploads", "2000"],
    ["cp.py", "--server", "rgw", "--size", "1GiB"],
    ["put.py"],
    ["tui_scale.py"],
]


def main(argv: list[str] | None = None) -> int:
    names = [name.removesuffix(".py") for name, *_ in BENCHMARKS]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks of README's Performance table (about an hour on 2 cores); "
        "each prints medians and ratios and writes bench/results/NAME.json.",
    )
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help=f"run only these ({', '.join(names)}); a single one takes its own options: python bench/NAME.py --help",
    )
    args = parser.parse_args(argv)
    chosen = set(args.only.split(",")) if args.only else set(names)
    unknown = chosen - set(names)
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(sorted(unknown))} (choose from {', '.join(names)})")
    failed = []
    for name, *rest in BENCHMARKS:
        if name.removesuffix(".py") not in chosen:
            continue
        print(f"\n=== {name} {' '.join(rest)} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *rest], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
