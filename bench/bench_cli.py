"""CLI cold start: `rectify --help` and `rectify item show ID`, wall time of the whole process.

Each command is run through the installed console script beside this interpreter (as
tests/test_cli_items.py does), with no RECTIFY_* variables, on a small SQLite database made by
`rectify init`, `rectify org load` and one `rectify item new`. Each is compared with a bare
interpreter doing only the import it cannot avoid, measured in the same rounds:
`--help` with `python -c "import click"`, `item show` with `python -c "import sqlalchemy.orm"`.
The commands take turns within each round (so load spikes hit all alike); one warm-up round
(bytecode and page cache) is not counted. Prints medians over --runs rounds (default 9).

Bytecode: every command runs with PYTHONPYCACHEPREFIX set to a temporary folder and without
PYTHONDONTWRITEBYTECODE, so after the warm-up round all modules load from cached bytecode, as
in an installed package; nothing is written into the repository. (With
PYTHONDONTWRITEBYTECODE=1 and an editable install, rectify's own ~40 modules would be compiled
from source on every start.)

With --profile (or for a command that misses its target) it also runs the command under
`python -X importtime` and prints the imports that dominate: self time by top-level package,
and the costliest imports where one package pulls in another (cumulative).

Run: python bench/bench_cli.py [--runs 9] [--profile]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORG = HERE.parent / "tests" / "fixtures" / "org.yaml"
RECTIFY = shutil.which("rectify", path=str(Path(sys.executable).parent))
NOW = "2025-09-26T10:00:00+08:00"
TARGETS = {"help": 0.150, "show": 0.400}


PYCACHE: Path | None = None  # set in main: a bytecode cache outside the repository


def env() -> dict[str, str]:
    """No RECTIFY_* settings; bytecode cached (in PYCACHE) as in an installed package."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("RECTIFY_") and k != "PYTHONDONTWRITEBYTECODE"}
    if PYCACHE is not None:
        out["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return out


def rectify(*args: str) -> list[str]:
    if RECTIFY is None:
        sys.exit("no `rectify` console script beside this interpreter: pip install -e .")
    return [RECTIFY, *args]


def setup(home: Path) -> tuple[str, int]:
    """A small initialised database with one item; (URL, item id)."""
    url = f"sqlite:///{home / 'r.db'}"
    for args in (["init"], ["org", "load", str(ORG)]):
        subprocess.run(rectify("--db", url, *args), check=True, capture_output=True, env=env(),
                       cwd=home)
    out = subprocess.run(rectify("--db", url, "--as", "li", "--now", NOW, "item", "new",
                                 "--workflow", "rectification", "--unit", "village-a1",
                                 "--field", "description=户籍信息与实际不符"),
                         check=True, capture_output=True, text=True, env=env(), cwd=home)
    return url, int(out.stdout.strip())


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, env=env(), cwd=cwd, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return elapsed


def import_profile(cmd: list[str], cwd: Path, top: int = 12) -> str:
    """`python -X importtime` of `cmd` (a console script): where start-up time goes."""
    done = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True,
                          text=True, env=env(), cwd=cwd, check=True)
    # (depth, self us, cumulative us, module), children listed before their parent
    rows: list[tuple[int, int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((depth, int(own), int(cumulative), name.strip()))
    by_package: dict[str, int] = defaultdict(int)
    for _, own_us, _, module in rows:
        by_package[module.split(".")[0]] += own_us
    # Where a package is entered from another one, and what that import costs in all.
    entries: list[tuple[int, str, str]] = []
    parents: list[tuple[int, str]] = []  # walk backwards: a parent comes after its children
    for depth, _, cumulative_us, module in reversed(rows):
        while parents and parents[-1][0] >= depth:
            parents.pop()
        parent = parents[-1][1] if parents else "(top)"
        if parent.split(".")[0] != module.split(".")[0]:
            entries.append((cumulative_us, module, parent))
        parents.append((depth, module))
    total = sum(by_package.values())
    lines = [f"`python -X importtime rectify {' '.join(cmd[1:])}`: {total / 1000:.0f} ms of "
             "imports (self times summed; importtime itself adds overhead)",
             "self time by top-level package:"]
    for package, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {us / 1000:>7.1f} ms  {us / total:>4.0%}  {package}")
    lines.append("costliest imports where one package enters another (cumulative):")
    for cumulative_us, module, parent in sorted(entries, reverse=True)[:top]:
        lines.append(f"  {cumulative_us / 1000:>7.1f} ms  {module}  <- {parent}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--profile", action="store_true",
                        help="print the -X importtime profile of `item show` in any case")
    args = parser.parse_args()
    global PYCACHE
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        PYCACHE = home / "pycache"
        url, item = setup(home)
        commands = {
            "help": rectify("--help"),
            "click": [sys.executable, "-c", "import click"],
            "show": rectify("--db", url, "item", "show", str(item)),
            "sqlalchemy": [sys.executable, "-c", "import sqlalchemy.orm"],
            "show_as": rectify("--db", url, "--as", "li", "item", "show", str(item)),
            "bare": [sys.executable, "-c", "pass"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for i in range(args.runs + 1):
            for name, cmd in commands.items():
                elapsed = wall(cmd, home)
                if i:  # round 0 warms bytecode and the page cache
                    times[name].append(elapsed)
        med = {k: statistics.median(v) for k, v in times.items()}
        low = {k: min(v) for k, v in times.items()}
        print(f"CLI cold start (wall, whole process): median of {args.runs} runs each, "
              f"commands interleaved; python {sys.version.split()[0]}")
        print(f"{'command':<30}{'median ms':>10}{'min ms':>8}   {'baseline (same rounds)':<24}"
              f"{'median ms':>10}{'ratio':>8}{'target ms':>11}")
        rows = (("rectify --help", "help", "click", "python -c 'import click'"),
                ("rectify item show ID", "show", "sqlalchemy", "... 'import sqlalchemy.orm'"),
                ("rectify --as li item show ID", "show_as", "sqlalchemy", "(the same)"),
                ("python -c pass", "bare", None, ""))
        for label, key, base, base_label in rows:
            target = TARGETS.get(key)
            verdict = ("" if target is None else
                       f"{'met' if med[key] <= target else 'MISSED'} {target * 1000:.0f}")
            ratio = f"{med[key] / med[base]:>7.2f}x" if base else ""
            base_ms = f"{med[base] * 1000:>10.0f}" if base else ""
            print(f"{label:<30}{med[key] * 1000:>10.0f}{low[key] * 1000:>8.0f}   "
                  f"{base_label:<24}{base_ms:>10}{ratio:>8}{verdict:>11}")
        for key in ("help", "show"):
            if args.profile or med[key] > TARGETS[key]:
                print()
                print(import_profile(commands[key], home))


if __name__ == "__main__":
    main()
