"""`rectify demo`: the guided run imports a sample ledger and leaves the weekly report (html)
and the ledger export (xlsx) beside its database, saying where."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from rectify.engine.demo import run_demo
from rectify.engine.store.db import open_engine, read
from rectify.engine.store.items import ITEMS
from sqlalchemy import func, select


def test_demo_imports_a_ledger_and_writes_report_and_export(tmp_path: Path) -> None:
    said: list[str] = []
    db = run_demo(tmp_path / "demo", said.append)
    text = "\n".join(said)
    folder = db.parent
    report = next(folder.glob("周报-*.html"))
    export = folder / "问题台账.xlsx"
    assert (folder / "台账样例.xlsx").exists()
    assert "ledger import: 12 items from 台账样例.xlsx" in text
    assert f"weekly report: {report}" in text and f"ledger export: {export}" in text
    assert "<svg" in report.read_text("utf-8")
    engine = open_engine(f"sqlite:///{db}")
    with read(engine) as conn:
        items = conn.execute(select(func.count()).select_from(ITEMS)).scalar_one()
        imported = conn.execute(select(func.count()).select_from(ITEMS)
                                .where(ITEMS.c.ext_key.is_not(None))).scalar_one()
    engine.dispose()
    assert (items, imported) == (42, 12)
    assert openpyxl.load_workbook(export).worksheets[0].max_row == 1 + 42
