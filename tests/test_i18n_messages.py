"""The messages that stayed English after the first translation pass, now read in Chinese under
`--lang zh`: a bad ledger's row problems and its summary, the import's summary and warnings,
`audit verify` lines (with and without an anchor), and the guard sandbox's refusals at load and
at run time. Each runs the real command in both languages: the exit code is the same, the
Chinese output has no English sentence in it, and `--json` is byte for byte the same."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock

from .cli_inprocess import Rectify, prepared_service, write_csv
from .conftest import START

NOW = "2025-09-26T10:00:00+08:00"
HEADER = ["问题编号", "乡镇", "村", "责任人", "问题类别", "问题描述", "整改时限"]
# Two Latin words in a row: an English sentence (ids like `rectify`, `bad.csv`, `--unit` are
# single words, and the Chinese messages keep only those).
ENGLISH = re.compile(r"[A-Za-z]{2,}[ ,;:'()]+[A-Za-z]{2,}")


@pytest.fixture
def rectify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "files").engine.dispose()
    return Rectify(url, capsys, monkeypatch, now=NOW)


def both(rectify: Rectify, *args: str, actor: str | None = None) -> tuple[str, str]:
    """stderr + stdout of one command in Chinese and in English, which exit alike."""
    zh = rectify("--lang", "zh", *args, actor=actor)
    en = rectify("--lang", "en", *args, actor=actor)
    assert zh.code == en.code, (zh, en)
    return zh.err + zh.out, en.err + en.out


def chinese(text: str) -> str:
    assert not ENGLISH.search(text), ENGLISH.search(text)
    return text


def test_bad_ledger_rows_and_summary_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """Every per-row problem of a bad ledger (unknown unit, unknown person, a date that does not
    exist, a duplicate 编号, a unit the importer holds no role at, no unit at all, a value not
    among the choices) and the summary line are Chinese under --lang zh; exit 6 in both."""
    ledger = write_csv(tmp_path / "bad.csv", [HEADER,
        ["A-1", "大杨集镇", "张庄村", "张三", "信息不实", "户籍信息不符", "2025-10-31"],
        ["A-2", "大杨集镇", "王庄村", "张三", "信息不实", "x", "2025-10-31"],
        ["A-3", "大杨集镇", "张庄村", "无名氏", "信息不实", "x", "2025-10-31"],
        ["A-4", "大杨集镇", "张庄村", "张三", "信息不实", "x", "2025-13-45"],
        ["A-1", "大杨集镇", "张庄村", "张三", "信息不实", "y", "2025-10-31"],
        ["A-6", "城关镇", "东关村", "周九", "信息不实", "y", "2025-10-31"],
        ["A-7", "", "", "张三", "信息不实", "y", "2025-10-31"],
        ["A-8", "大杨集镇", "张庄村", "张三", "不存在类别", "y", "2025-10-31"],
    ])  # fmt: skip
    zh, en = both(rectify, "item", "import", str(ledger), "--workflow", "rectification",
                  actor="li")
    for line in ("第 3 行：单位“王庄村”不在组织架构中",
                 "第 4 行：责任人“无名氏”不是组织架构中的人员",
                 "第 5 行，整改时限 列：没有这一天：2025-13-45",
                 "第 6 行，问题编号 列：问题编号“A-1”重复：第 2 行也是它",
                 "第 7 行：李四 在东关村及其上级单位没有任何角色",
                 "第 8 行：没有责任单位", "第 9 行，问题类别 列：'不存在类别' 不是允许的值",
                 "bad.csv：7 行有错误；未导入任何内容"):
        assert line in zh
    chinese(zh)
    assert "unit '王庄村' is not in the org" in en and "7 rows with errors" in en


def test_ledger_without_a_unit_column_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """A ledger with no unit column at all, and one whose headers match nothing, are refused in
    Chinese (exit 6 in both languages)."""
    no_unit = write_csv(tmp_path / "nounit.csv", [["问题编号", "问题描述"], ["A-1", "x"]])
    zh, _en = both(rectify, "item", "import", str(no_unit), "--workflow", "rectification",
                   actor="li")
    assert "nounit.csv：没有一列给出责任单位" in chinese(zh)
    nothing = write_csv(tmp_path / "nothing.csv", [["甲", "乙"], ["1", "2"]])
    zh, _en = both(rectify, "item", "import", str(nothing), "--workflow", "rectification",
                   actor="li")
    assert "第 1 行：没有一列与流程对应；找到的表头：甲、乙" in chinese(zh)


def test_import_summary_and_warnings_in_chinese_json_unchanged(rectify: Rectify,
                                                                tmp_path: Path) -> None:
    """The import's summary line (items made, rows skipped) and its warnings (an ignored column,
    a skipped row whose content differs) are Chinese; `--json` is the same in both languages,
    its warnings in English."""
    first = write_csv(tmp_path / "a.csv", [HEADER,
        ["A-1", "大杨集镇", "张庄村", "张三", "信息不实", "户籍信息不符", "2025-10-31"]])
    rectify.ok("--lang", "zh", "item", "import", str(first), "--workflow", "rectification",
               actor="li")
    again = write_csv(tmp_path / "again.csv", [[*HEADER, "备注"],
        ["A-1", "大杨集镇", "张庄村", "张三", "信息不实", "改过的描述", "2025-10-31", "x"]])
    args = ("item", "import", str(again), "--workflow", "rectification")
    zh, _en = both(rectify, *args, actor="li")
    assert "again.csv：警告：第 1 行，备注 列：无法识别此列，已忽略" in zh
    assert "编号“A-1”已是事项 1，其问题描述与此行不同；此行已跳过" in zh
    assert "已从 again.csv 导入 0 个事项到流程 rectification，1 行此前已导入（跳过）" in zh
    chinese(zh.replace("rectification", ""))  # the workflow's id is what --workflow takes
    as_json = [rectify("--lang", lang, *args, actor="li", as_json=True) for lang in ("zh", "en")]
    assert as_json[0].out == as_json[1].out
    assert "column not recognised; ignored" in as_json[0].json()["warnings"][0]


def _tamper(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("update history set comment = '改过' where item_id = 1 and seq = 1")
        conn.execute("pragma foreign_keys = off")
        for table in ("history", "escalation_steps", "items"):
            conn.execute(f"delete from {table} where {'id' if table == 'items' else 'item_id'}"
                         " = 2")


def test_audit_verify_and_anchor_lines_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """`audit verify` says ok, each broken item, and what an anchor pinned that is gone, in
    Chinese; exit 0 and then 7 in both languages; `--json` is identical in both."""
    for description in ("户籍信息不符", "收入未填写"):
        rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                   "--field", f"description={description}", actor="li")
    zh, _en = both(rectify, "audit", "verify")
    assert chinese(zh) == "审计通过：全部 2 个事项校验无误\n"
    anchor = tmp_path / "anchor.json"
    rectify.ok("--lang", "zh", "audit", "anchor", "-o", str(anchor))
    zh, _en = both(rectify, "audit", "verify", "--anchor", str(anchor))
    assert "，2025-09-26 10:00 的审计锚点固定的内容也都未被改动" in chinese(zh)
    _tamper(tmp_path / "rectify.db")
    zh, en = both(rectify, "audit", "verify", "--anchor", str(anchor))
    assert rectify("--lang", "zh", "audit", "verify").code == 7
    assert "校验未通过：事项 1：历史第 1 行在写入后被改动" in zh
    assert "事项 2：历史第 1 行（由 2025-09-26 10:00 的审计锚点固定）已不存在" in zh
    chinese(zh)
    assert "item 1: history row 1 was changed after it was written" in en
    as_json = [rectify("--lang", lang, "audit", "verify", "--anchor", str(anchor), as_json=True)
               for lang in ("zh", "en")]
    assert as_json[0].out == as_json[1].out and as_json[0].code == 7
    assert as_json[0].json()["broken"][0].startswith("item 1: history row 1 was changed")


SANDBOXED = """\
workflow: sandboxed
title: 沙箱
fields:
  description: {type: text, label: 问题描述}
roles: {inspector: 督查人员}
initial: open
states:
  open: {label: 待办, deadline: 3 days}
  done: {label: 已办, final: true}
transitions:
  - {trigger: finish, label: 办结, source: open, dest: done, roles: [inspector],
     when: "WHEN"}
"""


def test_guard_refused_at_load_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """A guard the sandbox refuses when the workflow is checked (a power too large to compute)
    is reported in Chinese by `workflow validate`, exit 6 in both languages."""
    path = tmp_path / "bomb.yaml"
    path.write_text(SANDBOXED.replace("WHEN", "(9**99)**99 > 1"), encoding="utf-8")
    zh, en = both(rectify, "workflow", "validate", str(path))
    assert rectify("--lang", "zh", "workflow", "validate", str(path)).code == 6
    assert "when：不允许这样的条件表达式：不允许这么大的乘方" in chinese(zh)
    assert "guard is not allowed: a power that large is not allowed" in en


def test_guard_refused_at_run_time_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """A guard that would build a huge value from a field is stopped by the sandbox when the
    transition fires: the refusal is Chinese, exit 3 in both languages."""
    path = tmp_path / "sandboxed.yaml"
    path.write_text(SANDBOXED.replace("WHEN", "description * 20000 != ''"), encoding="utf-8")
    rectify.ok("workflow", "load", str(path))
    item = rectify.ok("item", "new", "--workflow", "sandboxed", "--unit", "张庄村",
                      "--field", "description=x", actor="li").out.strip()
    zh = rectify("--lang", "zh", "item", "advance", item, "finish", actor="li")
    en = rectify("--lang", "en", "item", "advance", item, "finish", actor="li")
    assert zh.code == en.code == 3
    assert "条件表达式中不允许：不允许这么大的值" in zh.err
    chinese(zh.err.replace("description * 20000 != ''", ""))  # the guard as the admin wrote it
    assert "not allowed in a guard: values that large are not allowed" in en.err


def test_workflow_key_problems_name_their_place_in_chinese(rectify: Rectify,
                                                           tmp_path: Path) -> None:
    """Where a workflow's unknown keys and unknown names sit (a field, a state, a transition,
    a field's editable_by, a transition's sets) is said in Chinese under --lang zh — before,
    the lines began "field 'note'：", "transition 1：" and "流转 't': sets"."""
    path = tmp_path / "keys.yaml"
    path.write_text("""\
workflow: keys
roles: {a: 甲}
fields:
  note: {type: text, lable: 说明, editable_by: [boss]}
initial: s
states:
  s: {label: 开始, colour: red}
  e: {label: 完, final: true}
transitions:
  - {trigger: t, source: s, dest: e, lable: x, sets: [nofield]}
""", encoding="utf-8")
    zh, en = both(rectify, "workflow", "validate", str(path))
    for place in ("字段 'note'：editable_by 引用了", "字段 'note'：未知的键 'lable'",
                  "状态 's'：未知的键 'colour'", "第 1 条流转：未知的键 'lable'",
                  "流转 't'：sets 引用了"):
        assert place in zh, zh
    assert "field '" not in zh and "transition " not in zh and "state '" not in zh
    assert "field 'note': editable_by names unknown role 'boss'" in en
    assert "transition 1: unknown key 'lable'" in en
