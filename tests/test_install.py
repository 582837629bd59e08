"""A plain `pip install .` (not editable) ships every module, workflow and template.

The repository is copied (so the build leaves nothing in the working tree) and installed into a
fresh virtual environment that sees this interpreter's packages (`--system-site-packages`, so
no dependency is downloaded), with `--no-deps --no-build-isolation`. The installed package must
hold every file of the source tree, and `rectify demo` must run from it, away from the
repository, with no PYTHONPATH: the editable install and the test run's own path stay out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = ("engine", "notifications", "commands", "workflows", "web", "locale")
TOP_FILES = ("__init__.py", "cli.py")
SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", "build", "*.egg-info", ".venv",
                              "tests", "bench", ".ci", ".pytest_cache", ".mypy_cache",
                              ".ruff_cache", ".hypothesis")

pytestmark = pytest.mark.slow


def package_files() -> set[str]:
    """Every file of the package tree, relative to the package root (what must be installed)."""
    files = {name for name in TOP_FILES if (ROOT / name).exists()}
    for folder in PACKAGE_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(path.relative_to(ROOT).as_posix())
    return files


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the venv's bin folder, an environment for it) with rectify installed from a copy."""
    base = tmp_path_factory.mktemp("install")
    source, venv = base / "source", base / "venv"
    shutil.copytree(ROOT, source, ignore=SKIP)
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("RECTIFY_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # No pip of its own (copying one in is most of a venv's cost): this interpreter's pip
    # installs into it.
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
         base, env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install",
          "--quiet", "--no-deps", "--no-build-isolation", str(source)], base, env)
    return bin_dir, env


def test_installed_package_holds_every_source_file(installed: tuple[Path, dict[str, str]],
                                                    tmp_path: Path) -> None:
    """Each module, workflow YAML and template of the tree is in the installed `rectify`, and
    that is the copy the venv imports (not the editable install of the repository)."""
    bin_dir, env = installed
    code = ("import pathlib, rectify; root = pathlib.Path(rectify.__file__).parent; "
            "print(root); print('\\n'.join(p.relative_to(root).as_posix() "
            "for p in root.rglob('*') if p.is_file() and '__pycache__' not in p.parts))")
    lines = _run([str(bin_dir / "python"), "-c", code], tmp_path, env).stdout.splitlines()
    root, shipped = Path(lines[0]), set(lines[1:])
    assert bin_dir.parent in root.parents, f"imported from {root}, not the venv"
    missing = package_files() - shipped
    assert not missing, f"not installed: {sorted(missing)}"


def test_demo_runs_from_the_installed_package(installed: tuple[Path, dict[str, str]],
                                              tmp_path: Path) -> None:
    """`rectify demo --quiet` from the venv's console script runs the whole cycle: bundled
    workflows, migrations, notification templates and the weekly report's HTML template all
    load from the installed package, and its results are where it says."""
    bin_dir, env = installed
    demo = tmp_path / "demo"
    _run([str(bin_dir / "rectify"), "demo", "--quiet", "--dir", str(demo)], tmp_path, env)
    assert (demo / "rectify.db").stat().st_size > 0
    assert (demo / "notifications.jsonl").read_text("utf-8").strip()  # templates rendered
    assert (demo / "问题台账.xlsx").stat().st_size > 0
    (report,) = demo.glob("周报-*.html")
    assert "<svg" in report.read_text("utf-8")  # the packaged HTML template


def test_installed_package_speaks_chinese(installed: tuple[Path, dict[str, str]],
                                          tmp_path: Path) -> None:
    """The compiled catalogue ships: the installed console script prints its help in Chinese
    under a Chinese locale, and in English under `--lang en` whatever the locale says."""
    bin_dir, env = installed
    zh = _run([str(bin_dir / "rectify"), "item", "--help"], tmp_path,
              {**env, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}).stdout
    assert "用法" in zh and "台账中的问题" in zh
    en = _run([str(bin_dir / "rectify"), "--lang", "en", "item", "--help"], tmp_path,
              {**env, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}).stdout
    assert "Usage:" in en and "Problems in the ledger" in en
