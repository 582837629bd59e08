"""The staff roster (花名册) as an org file (issue 22, point 5): `org load roster.xlsx` with
单位 / 姓名 / 角色 columns builds the unit tree from the 单位 chains, keeps the ids a unit or a
person already has, takes role labels, and is all or nothing with every bad row named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import repo
from rectify.engine.store.db import read

from .cli_inprocess import Rectify, prepared_service, write_xlsx
from .conftest import START

HEADER = ["单位", "姓名", "角色", "账号", "手机"]


@pytest.fixture
def rectify(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Any:
    prepared_service(db_url, FixedClock(START), tmp_path / "files").engine.dispose()
    return Rectify(db_url, capsys, monkeypatch, now="2025-09-26T10:00:00+08:00")


def _org(url: str) -> tuple[dict[str, str], set[str]]:
    """Unit paths by id, and the people still active."""
    from rectify.engine.store.db import open_engine

    engine = open_engine(url)
    with read(engine) as conn:
        units = {u.id: u.path for u in repo.units(conn)}
        active = {p.id for p in repo.people(conn) if p.active}
    engine.dispose()
    return units, active


def test_roster_loads_tree_ids_and_roles(rectify: Rectify, tmp_path: Path) -> None:
    """A roster naming the fixture org's units by their names keeps their ids (county,
    town-a, village-a1), adds a new village as 某县-大杨集镇-王庄村, maps 督查人员 and
    整改责任人 to inspector and rectifier, and its people can then act: 李四 (id li, found by
    name) files an item at the new village."""
    roster = write_xlsx(tmp_path / "花名册.xlsx", [HEADER,
        ["某县/大杨集镇", "李四", "督查人员", "", ""],
        ["某县/大杨集镇/张庄村", "张三", "整改责任人", "zhang", "13800000003"],
        ["某县/大杨集镇/王庄村", "王小二", "整改责任人、验收人", "wxe", ""],
        ["某县", "钱八", "分管领导", "", ""],
    ], title="某县督查人员花名册")  # fmt: skip
    rectify.ok("org", "load", str(roster), actor="qian")
    units, active = _org(rectify.url)
    assert active == {"li", "zhang", "wxe", "qian"}
    assert units["village-a1"] == "/county/town-a/village-a1/"
    assert units["某县-大杨集镇-王庄村"] == "/county/town-a/某县-大杨集镇-王庄村/"
    item = rectify.ok("item", "new", "--workflow", "rectification", "--unit",
                      "某县-大杨集镇-王庄村",
                      "--assignee", "wxe", "--field", "description=户籍信息与实际不符",
                      actor="li").out.strip()
    shown = rectify.ok("item", "show", item, actor="wxe", as_json=True).json()
    assert shown["unit"] == "某县-大杨集镇-王庄村"
    gone = rectify("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                   "--field", "description=x", actor="wang")  # 王五 is not in the roster
    assert gone.code == 3


def test_bad_roster_rows_are_all_named_and_nothing_loads(rectify: Rectify,
                                                         tmp_path: Path) -> None:
    """An unknown role, a row without 姓名 and a namesake with another phone are each named
    with their row number; exit 6, and the org in the database is unchanged."""
    before = _org(rectify.url)
    roster = write_xlsx(tmp_path / "花名册.xlsx", [HEADER,
        ["某县/大杨集镇", "李四", "督察员", "", ""],
        ["某县/大杨集镇/张庄村", "", "整改责任人", "", ""],
        ["某县/大杨集镇/张庄村", "张三", "整改责任人", "", "13800000003"],
        ["某县/城关镇/东关村", "张三", "整改责任人", "", "13900000000"],
    ], title=None)  # fmt: skip
    result = rectify("org", "load", str(roster), actor="qian")
    assert result.code == 6, result.err
    assert "row 2: 角色 '督察员' is not a role" in result.err
    assert "row 3: no 姓名" in result.err
    assert "row 5: 张三 has another 手机 in row 4" in result.err
    assert "3 rows with errors; nothing was loaded" in result.err
    assert _org(rectify.url) == before


def test_bad_roster_rows_read_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """Under `--lang zh` each bad row is named in Chinese (第 N 行, the problem, the count of
    bad rows), with the same exit code as in English and no English left in the lines."""
    roster = write_xlsx(tmp_path / "花名册.xlsx", [HEADER,
        ["某县/大杨集镇", "李四", "督察员", "", ""],
        ["某县/大杨集镇/张庄村", "", "整改责任人", "", ""],
    ], title=None)  # fmt: skip
    zh = rectify("--lang", "zh", "org", "load", str(roster), actor="qian")
    en = rectify("--lang", "en", "org", "load", str(roster), actor="qian")
    assert (zh.code, en.code) == (6, 6)
    assert "第 2 行：角色“督察员”不是已加载流程中的角色" in zh.err
    assert "第 3 行：缺少姓名" in zh.err
    assert "2 行有错误；未加载任何内容" in zh.err
    assert "row 3: no 姓名" in en.err
    assert not any(word in zh.err for word in ("row", "roles are", "nothing was"))
