"""`rectify demo`: the guided run imports a sample ledger and leaves the weekly report (html)
and the ledger export (xlsx) beside its database, saying where; it also walks households through
四议两公开, where one 公示 passes by itself (the sweep, as `system`) and one is objected to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from rectify.engine.core.i18n import current_language, use_language
from rectify.engine.demo.rectification import run_demo
from rectify.engine.store.db import open_engine, read
from rectify.engine.store.items import HISTORY, ITEMS, STEPS
from sqlalchemy import func, select


@pytest.fixture
def language() -> Iterator[None]:
    """The demo prints in the language chosen for the command; put it back afterwards."""
    before = current_language()
    yield
    use_language(before)


def test_demo_ledger_report_and_public_notices(tmp_path: Path, language: None) -> None:
    """One run (about two seconds), checked twice: the ledger and report, and the 公示."""
    use_language("en")
    said: list[str] = []
    db = run_demo(tmp_path / "demo", said.append)
    text = "\n".join(said)
    _imports_a_ledger_and_writes_report_and_export(db, text)
    _public_notice_passes_by_itself_and_an_objection_preempts_another(db, text)


def _imports_a_ledger_and_writes_report_and_export(db: Path, text: str) -> None:
    """The sample ledger goes in; the report and the rectification ledger come out."""
    folder = db.parent
    report = next(folder.glob("周报-*.html"))
    export = folder / "问题台账.xlsx"
    assert (folder / "台账样例.xlsx").exists()
    assert "ledger import: 12 items from 台账样例.xlsx" in text
    assert "refused: 张华 tried to 提交验收 item 1: 张华 may not 'submit'" in text
    assert f"weekly report: {report}" in text and f"ledger export: {export}" in text
    assert "<svg" in report.read_text("utf-8")
    engine = open_engine(f"sqlite:///{db}")
    with read(engine) as conn:
        items = conn.execute(select(func.count()).select_from(ITEMS)
                             .where(ITEMS.c.workflow == "rectification")).scalar_one()
        imported = conn.execute(select(func.count()).select_from(ITEMS)
                                .where(ITEMS.c.ext_key.is_not(None))).scalar_one()
    engine.dispose()
    assert (items, imported) == (42, 12)
    # The 问题台账 holds the problems only, not the households being identified.
    assert openpyxl.load_workbook(export).worksheets[0].max_row == 3 + 42  # title, 填报单位, header


def _public_notice_passes_by_itself_and_an_objection_preempts_another(db: Path,
                                                                      text: str) -> None:
    """Two households' 第一次公示 is passed by the sweep as `system`, on time; the third was
    objected to by a person, went back to 村级核实 and waits in a fresh notice with its own timer
    pending, the first one cancelled. The meeting without its quorum wrote nothing."""
    engine = open_engine(f"sqlite:///{db}")
    with read(engine) as conn:
        items = conn.execute(select(ITEMS.c.id, ITEMS.c.state)
                             .where(ITEMS.c.workflow == "identification")
                             .order_by(ITEMS.c.id)).all()
        ids = [i for i, _ in items]
        rows = conn.execute(select(HISTORY).where(HISTORY.c.item_id.in_(ids))
                            .order_by(HISTORY.c.item_id, HISTORY.c.seq)).mappings().all()
        steps = conn.execute(select(STEPS.c.entry_no, STEPS.c.status)
                             .where(STEPS.c.item_id == ids[1])
                             .order_by(STEPS.c.entry_no)).all()
    engine.dispose()
    assert [s for _, s in items] == ["township_review", "village_notice", "township_review"]
    history = {i: [r for r in rows if r["item_id"] == i] for i in ids}

    for passed in (ids[0], ids[2]):
        escalation, fired = history[passed][-2:]
        assert (escalation["kind"], escalation["actor"], escalation["data"]["late"]) == (
            "escalation", "system", False)
        assert (fired["kind"], fired["trigger"], fired["actor"], fired["source"],
                fired["dest"]) == ("transition", "no_objection", "system", "village_notice",
                                   "township_review")
        assert fired["at"] == escalation["at"]

    objected = history[ids[1]]
    assert [r["trigger"] for r in objected[-3:]] == ["verify", "object", "verify"]
    objection = objected[-2]
    assert objection["actor"] not in ("system", None) and "异议" in objection["comment"]
    assert all(r["actor"] != "system" for r in objected)
    assert [s for _, s in steps] == ["cancelled", "pending"]

    # 党员大会 without two thirds present was refused: one approval per meeting, no more.
    assert [r["trigger"] for r in history[ids[2]]].count("approve") == 2
    assert f"公示无异议 fired by the system (actor `system`): items {ids[0]}, {ids[2]} → 乡镇审核" \
        in text
    assert f"objection to item {ids[1]} (李桂兰), recorded by" in text


def test_demo_narrates_in_chinese(tmp_path: Path, language: None) -> None:
    """Under zh every line the demo prints comes from the catalogue in Chinese, with the
    workflow's labels and the people's and units' names; what is left in Latin letters is
    commands, paths and the system actor's id, never an English word of ours."""
    use_language("zh")
    said: list[str] = []
    db = run_demo(tmp_path / "demo", said.append)
    text = "\n".join(said)
    assert "被拒绝：张华 试图对事项 1 执行“提交验收”：张华 不能办理" in text
    assert "发现 30 个问题并已交办：整改中，期限 10 个工作日" in text
    assert "从 台账样例.xlsx 导入 12 个事项" in text
    assert "12 个事项自动追责问责" in text
    assert "系统（操作人 `system`）自动执行“公示无异议”：事项 43、45 → 乡镇审核" in text
    assert f"周报：{next(db.parent.glob('周报-*.html'))}" in text
    words = set()
    for line in said:
        # commands (quoted, or the closing "try" line), paths and file names
        line = re.sub(r"`[^`]*`|\S*[/.]\S*|试试：.*", "", line)
        words |= set(re.findall(r"[A-Za-z]{3,}", line))
    # the refusal names the trigger and role by id beside their labels, as item show does
    assert words <= {"system", "Excel", "submit", "rectifier"}
