"""The README's everyday commands, run as written, in order, through the command line's own entry
point (in-process: an interpreter start-up per command would cost the suite a minute) in a fresh
folder holding only the shipped examples (org file, ledger) and a photo: each exits 0 and says
no Python. `serve` is left out (it runs until stopped; tests/test_web_* cover it)."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from .cli_inprocess import Rectify

ROOT = Path(__file__).resolve().parent.parent
NOW = "2025-09-26T10:00:00+08:00"


def everyday_commands() -> list[list[str]]:
    """The commands of the README's "Everyday use" block, continuations joined, comments off."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"Everyday use.*?```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None, "README has no Everyday use block"
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def test_readme_everyday_commands_work_in_a_fresh_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every everyday command in the README works, in order, on a fresh folder with the
    shipped examples/org.yaml and examples/台账.csv and the default database (rectify.db there):
    the org file the README shows is real, the names it types (张庄村, 张三, 待验收) resolve,
    and nothing prints a traceback."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "照片.jpg")
    monkeypatch.chdir(tmp_path)
    rectify = Rectify("", capsys, monkeypatch, now=NOW)
    commands = [c for c in everyday_commands() if c[:2] != ["rectify", "serve"]]
    assert len(commands) >= 12 and all(c[0] == "rectify" for c in commands)
    for command in commands:
        monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-enough-password\n"))
        done = rectify(*command[1:])
        assert done.code == 0, (command, done.err)
        assert "Traceback" not in done.err, (command, done.err)
    assert (tmp_path / "rectify.db").exists()
    assert (tmp_path / "问题台账.xlsx").exists() and (tmp_path / "周报.html").exists()
