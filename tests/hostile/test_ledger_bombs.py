"""Hostile ledgers (engine/ledgers/xlsx_check.py): a zip-bomb .xlsx is refused with exit 6 while
the process stays under a memory bound, and a formula cell without a saved value is an error
naming its row instead of a silently empty field."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from rectify.engine.core.clock import FixedClock

from ..cli_inprocess import Rectify, prepared_service, write_xlsx
from ..conftest import START

HEADER = ["问题编号", "乡镇", "村", "问题描述", "整改时限"]
ROW = ["A-1", "大杨集镇", "张庄村", "户籍信息与实际不符", "2025-10-20"]
BOMB_CELL = 150 << 20  # bytes of one cell once inflated; the file itself is ~700 KB
MEMORY_LIMIT = 1 << 30  # address space of the child: a few hundred MB over its own baseline


def _zip_bomb(path: Path) -> Path:
    """A valid ledger whose one shared string inflates to BOMB_CELL bytes of 'x'; the archive
    is written a megabyte at a time (deflate level 1), so making it costs no memory."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append([*ROW[:3], "BOMB", ROW[4]])
    plain = path.with_suffix(".plain.xlsx")
    book.save(plain)
    filler = b"x" * (1 << 20)
    with zipfile.ZipFile(plain) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in src.infolist():
            data = src.read(info)
            if b"BOMB" not in data:
                out.writestr(info.filename, data)
                continue
            head, tail = data.split(b"BOMB")
            with out.open(info.filename, "w", force_zip64=True) as member:
                member.write(head)
                for _ in range(BOMB_CELL >> 20):
                    member.write(filler)
                member.write(tail)
    return path


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "files").engine.dispose()
    return url


def test_zip_bomb_is_refused_under_a_memory_bound(tmp_path: Path, database: str) -> None:
    """`item import` of a ~300 KB .xlsx whose cell inflates to 300 MB exits 6 with one line,
    in a child limited to 1 GiB of address space (calamine alone would need several)."""
    bomb = _zip_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 2 << 20
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "rectify.cli", "--db", database, "--as", "li",
         "--now", "2025-09-26T10:00+08:00", "item", "import", str(bomb),
         "--workflow", "rectification"],
        capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory, env=env)
    assert done.returncode == 6, done.stderr[-2000:]
    assert "longer than Excel allows" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_formula_without_saved_value_names_its_row(tmp_path: Path, database: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A formula cell that no spreadsheet program ever computed (openpyxl writes them so) is
    an error naming the row and cell, exit 6, nothing imported."""
    ledger = write_xlsx(tmp_path / "f.xlsx", [HEADER, ROW, ["A-2", *ROW[1:3],
                                                           '=CONCAT("a","b")', ROW[4]]])
    cli = Rectify(database, capsys, monkeypatch, now="2025-09-26T10:00+08:00")
    result = cli("item", "import", str(ledger), "--workflow", "rectification", actor="li")
    assert result.code == 6, result
    assert "row 4 (cell D4): a formula without a saved value" in result.err
    assert cli("item", "list", as_json=True).json() == []
