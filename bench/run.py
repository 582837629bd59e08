"""Run every benchmark in this folder, one after another; each prints its own table.

Not part of the test suite. Usage:

    python bench/run.py                 # everything, full sizes (the 1,000,000-item runs take long)
    python bench/run.py --quick         # a smoke run: small sizes, one run each
    python bench/run.py bulk cli        # only bench_bulk.py and bench_cli.py (names or prefixes)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

# Arguments for a smoke run: small enough for a minute or two in all, still every code path.
QUICK: dict[str, list[str]] = {
    "bench_bulk.py": ["--items", "5000", "--runs", "1"],
    "bench_orm_baseline.py": ["--items", "2000", "--runs", "1"],
    "bench_scale.py": ["--sizes", "1000,4000", "--runs", "1",
                       "--only", "first,unit,show,verify,raw"],
    "bench_cli.py": ["--runs", "3"],
    "bench_import.py": ["2000", "1"],  # ROWS RUNS
    "bench_export.py": ["2000", "1"],  # ITEMS RUNS
    "bench_ledger_read.py": ["2000"],  # ROWS
    "bench_dispatch.py": ["--rows", "1000", "--runs", "1"],
    "bench_sweep.py": ["--items", "20000", "--due", "2000", "--runs", "1"],
    "bench_transitions.py": ["--items", "200", "--runs", "1"],
    "bench_web.py": ["--requests", "200", "--page-items", "2000"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one run each: a smoke run, not a measurement")
    parser.add_argument("names", nargs="*",
                        help="only these scripts (e.g. bulk, bench_cli.py); default: all")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        wanted = [n.removeprefix("bench_").removesuffix(".py") for n in args.names]
        scripts = [s for s in scripts
                   if any(s.stem.removeprefix("bench_").startswith(w) for w in wanted)]
        if not scripts:
            parser.error(f"no benchmark matches {' '.join(args.names)}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    print(f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; load average {' '.join(f'{x:.2f}' for x in load)}"
          + (" [--quick: smoke run, figures not comparable]" if args.quick else ""), flush=True)
    failed = []
    for script in scripts:
        extra = QUICK.get(script.name, []) if args.quick else []
        print(f"\n== {script.name} {' '.join(extra)}".rstrip(), flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(script), *extra], check=False).returncode
        print(f"-- {script.name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
