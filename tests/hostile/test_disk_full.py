"""A full disk while storing an attachment or writing an export (issue 18, point 10): one line
saying so, the exit code of a usage error, and nothing half-written — no partial evidence file,
no partial export, the item unchanged. The disk fills for real: the command runs in a
subprocess whose file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so a write fails with
EFBIG instead of killing the process) is far below what it must write."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rectify.engine.core.clock import FixedClock

from ..cli_inprocess import prepared_service
from ..conftest import START

LIMIT = 256 * 1024  # bytes any file may grow to; the database is written before the limit
NOW = "2025-09-26T10:00:00+08:00"


def _limited(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _rectify(db: Path, *args: str, actor: str, limit: int = LIMIT
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from rectify.cli import main; main()", "--db",
         f"sqlite:///{db}", "--now", NOW, "--as", actor, *args],
        capture_output=True, text=True, preexec_fn=_limited(limit), timeout=120,
        env={**__import__("os").environ, "RECTIFY_FILES": str(db.parent / "files")})


def test_disk_full_while_attaching(tmp_path: Path) -> None:
    """An attachment larger than the disk has room for: exit 2, one line naming the evidence
    folder as full, no file left in the store, the item still in 整改中 with no attachment."""
    db = tmp_path / "rectify.db"
    service = prepared_service(f"sqlite:///{db}", FixedClock(START), tmp_path / "files")
    item = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                            values={"description": "户籍信息与实际不符"})
    service.advance(item, "li", "assign")
    photo = tmp_path / "big.jpg"
    photo.write_bytes(b"\xff\xd8" + bytes(4 * LIMIT))
    done = _rectify(db, "item", "advance", str(item), "submit", "--field", "measures=已更正",
                    "--attach", str(photo), actor="zhang")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is full" in lines[0] and "nothing was stored" in lines[0]
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    from rectify.engine.app.views import item_detail

    detail = item_detail(service, item, "zhang")
    assert detail["state"] == "rectifying" and "evidence" not in detail["fields"]
    service.engine.dispose()


def test_disk_full_while_exporting(tmp_path: Path) -> None:
    """A csv export larger than the room left: exit 2, one line, and neither the export nor
    its temporary file is left in the folder (an existing file given with --force stays)."""
    db = tmp_path / "rectify.db"
    service = prepared_service(f"sqlite:///{db}", FixedClock(START), tmp_path / "files")
    for n in range(600):
        service.new_item("li", "rectification", "village-a1", values={
            "description": f"第{n}号问题：家庭人口信息与实际不符，需入户核实更正"})
    service.engine.dispose()
    out = tmp_path / "out"
    out.mkdir()
    (out / "台账.csv").write_text("the office's own file", "utf-8")
    done = _rectify(db, "ledger", "export", "--format", "csv", "-o", str(out / "台账.csv"),
                    "--force", actor="li", limit=32 * 1024)  # the export is ~90 KB
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot write" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["台账.csv"]
    assert (out / "台账.csv").read_text("utf-8") == "the office's own file"


def test_disk_full_while_importing(tmp_path: Path) -> None:
    """A ledger whose items do not fit on the disk: one line saying nothing was written, and
    the database still has no item (the one import transaction rolled back)."""
    import csv

    db = tmp_path / "rectify.db"
    service = prepared_service(f"sqlite:///{db}", FixedClock(START), tmp_path / "files")
    ledger = tmp_path / "台账.csv"
    with ledger.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([["问题编号", "村", "问题描述"]] + [
            [f"X-{n}", "张庄村", f"第{n}号问题：家庭人口信息与实际不符"] for n in range(3000)])
    done = _rectify(db, "item", "import", str(ledger), "--workflow", "rectification",
                    actor="li", limit=db.stat().st_size + 200_000)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing was written" in lines[0], done.stderr
    from rectify.engine.store.db import read
    from rectify.engine.store.items import ITEMS
    from sqlalchemy import func, select

    with read(service.engine) as conn:
        assert conn.execute(select(func.count()).select_from(ITEMS)).scalar_one() == 0
    service.engine.dispose()
