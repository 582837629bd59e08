"""The last messages that stayed English, now read in Chinese under `--lang zh`: the load errors
of a calendar file, an org file and a settings file (channels included), `workflow migrate`'s
plan, refusal and summary and `workflow diff`, `workflow show`'s tables, `item show`'s history
(the transitions' and states' labels), and the web API's one-line errors. Each runs the real
command (or the real app) in both languages: the exit code (or HTTP status) is the same, the
Chinese output has no English sentence in it, and `--json` does not change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rectify.engine.app import identity
from rectify.engine.app.runtime import Runtime
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.i18n import current_language, in_language

from .cli_inprocess import Rectify, prepared_service
from .conftest import START
from .test_i18n_messages import ENGLISH, NOW, both, chinese
from .test_i18n_messages import rectify as rectify  # the fixture: a prepared database
from .test_migrate import build


def test_bad_calendar_file_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """A calendar file with a day that does not exist, a day of another year, a backwards
    range, a clash and an unknown year key: every problem in Chinese with its line; exit 6."""
    path = tmp_path / "cal.yaml"
    path.write_text("years:\n  2027:\n    holidays: [2027-13-01, 2028-01-01, "
                    "'2027-02-09..2027-02-01', 2027-05-01]\n    workdays: [2027-05-01]\n"
                    "  twenty: {}\n", encoding="utf-8")
    zh, en = both(rectify, "calendar", "load", str(path), actor="wang")
    assert rectify("--lang", "zh", "calendar", "load", str(path), actor="wang").code == 6
    for line in ("cal.yaml:3:16: '2027-13-01' 不是有效日期：没有这一天",
                 "2028-01-01 不在 2027 年内", "日期范围 '2027-02-09..2027-02-01' 的结束早于开始",
                 "2027-05-01：既列为节假日又列为调休工作日（见第 3 行）",
                 "years：'twenty' 不是年份（应如 2027）"):
        assert line in zh
    chinese(zh)
    assert "is not a valid date: there is no such day" in en
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    zh, _en = both(rectify, "calendar", "load", str(empty), actor="wang")
    assert "empty.yaml:1:1: 日历文件为空；应为含 'years' 键的映射" in chinese(zh)


def test_bad_org_file_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """An org file with a unit given twice, a unit id with '/', a person named `system` and a
    role at a unit that does not exist (with the near name); an empty org file: Chinese, exit 6
    in both languages."""
    path = tmp_path / "org.yaml"
    path.write_text("units:\n  - {id: town, name: 镇}\n  - {id: town, name: 镇二}\n"
                    "  - {id: a/b, name: 村}\npeople:\n  - {id: system, name: 系统}\n"
                    "  - {id: li, name: 李四, roles: {leader: tonw}}\n", encoding="utf-8")
    zh, en = both(rectify, "org", "load", str(path), actor="wang")
    assert rectify("--lang", "zh", "org", "load", str(path), actor="wang").code == 6
    for line in ("单位 'town' 重复定义", "单位编号 'a/b' 不能为空，也不能含有 '/'",
                 "'system' 保留给系统自身的操作",
                 "角色 'leader' 所在单位 'tonw' 不存在（是不是“town”？）"):
        assert line in zh
    chinese(zh)
    assert "role 'leader' is held at unknown unit 'tonw' (did you mean 'town'?)" in en
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    zh, _en = both(rectify, "org", "load", str(empty), actor="wang")
    assert chinese(zh) == f"{empty}:1:1: 组织文件为空\n"


def test_bad_settings_file_in_chinese(rectify: Rectify, tmp_path: Path) -> None:
    """A settings file with a bad time, a negative number, a non-http address, an unknown key,
    and a password written in the file: every problem in Chinese, exit 6 in both languages,
    whatever the command."""
    path = tmp_path / "rectify.toml"
    path.write_text('[scheduler]\ndigest_time = "25:00"\n[lights]\nyellow_workdays = -1\n'
                    'yelow = 1\n[web]\nbase_url = "ftp://x"\n'
                    '[channels.mail]\ntype = "smtp"\nhost = "h"\nsender = "a@b"\npassword = "p"\n',
                    encoding="utf-8")
    zh, en = both(rectify, "--config", str(path), "item", "list")
    assert rectify("--lang", "zh", "--config", str(path), "item", "list").code == 6
    for line in ("scheduler：digest_time：应为时间，如 '19:00'，实际为 '25:00'",
                 "lights：yellow_workdays 必须是不小于 0 的整数，实际为 -1",
                 "lights：未知的键 'yelow'；可用的键：",
                 "web：base_url 必须是 http:// 或 https:// 地址，实际为 'ftp://x'",
                 "渠道 'mail'：不要把密码写在设置文件中"):
        assert line in zh
    chinese(zh.replace("colors, yellow_workdays", ""))  # the keys a [lights] table may have
    assert "never write a password in the settings file" in en


@pytest.fixture
def migrating(tmp_path: Path, rectify: Rectify) -> Iterator[Rectify]:
    """`complaint` v1 with items in each state, then v2 (which has no `reviewing`) loaded."""
    service = prepared_service(rectify.url, FixedClock(START), tmp_path / "files")
    build(service)
    service.engine.dispose()
    rectify.now = "2025-10-15T11:00:00+08:00"
    yield rectify


def test_workflow_migrate_and_diff_in_chinese(migrating: Rectify) -> None:
    """`workflow migrate` without a --map for a state v2 lacks: its plan (a table) and its
    refusal are Chinese, exit 3 in both languages; a dry run's summary and `workflow diff`
    are Chinese; the dry run's `--json` is the same in both languages."""
    zh, en = both(migrating, "workflow", "migrate", "complaint", "--to", "2")
    assert migrating("--lang", "zh", "workflow", "migrate", "complaint", "--to", "2").code == 3
    assert "complaint -> v2：其他版本上有 3 个在办事项" in zh
    assert "✗ v2 没有此状态" in zh and "无法把流程“complaint”的 1 个事项迁移到 v2" in zh
    chinese(zh)
    assert "✗ v2 has no such state" in en and "3 running items on other versions" in en
    dry = ("workflow", "migrate", "complaint", "--to", "2", "--map", "reviewing=checking",
           "--dry-run")
    zh, _en = both(migrating, *dry)
    assert "将把 3 个事项迁移到 v2" in chinese(zh) and "（试运行：不写入任何内容）" in zh
    as_json = [migrating("--lang", lang, *dry, as_json=True) for lang in ("zh", "en")]
    assert as_json[0].out == as_json[1].out and as_json[0].code == 0
    zh, _en = both(migrating, "workflow", "diff", "complaint", "1", "2")
    assert "complaint v1 -> v2：v1 上有 3 个在办事项" in zh and "1 个在办事项" in zh
    assert "2 个事项有值" in zh
    # The change lines name what changed by the YAML's ids, keys and values, as written.
    titles = [line for line in zh.splitlines() if not line.startswith("  ")]
    assert "字段" in titles and "流转" in titles
    chinese("\n".join(titles))


def test_workflow_show_and_item_history_in_chinese(rectify: Rectify) -> None:
    """`workflow show`'s table headings and rules, and `item show`'s history (登记问题, the
    transition's label 交办, the states' labels) and what the reader may fire (交办 (assign): the
    label, and the id they type) are Chinese; in English the history keeps the ids, and
    `--json` keeps them in both languages."""
    zh, en = both(rectify, "workflow", "show", "rectification")
    assert "不得由执行 submit 的人办理" in zh and "须填意见" in zh and "须填 问题描述" in zh
    rows = [line.split() for line in zh.splitlines()]  # the rows hold the workflow's ids
    for heading in (["状态", "名称", "时限", "终结"], ["操作", "从", "到", "角色", "规则"],
                    ["状态", "时间", "级别", "通知", "触发"]):
        assert heading in rows
    assert "not whoever fired submit" in en
    item = rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                      "--field", "description=x", actor="li").out.strip()
    card = rectify("--lang", "zh", "item", "show", item, actor="li").out
    assert card.rstrip().splitlines()[-1] == "可办理：交办 (assign)、立行立改 (fix_on_spot)", card
    rectify.ok("item", "advance", item, "assign", actor="li")
    zh, en = both(rectify, "item", "show", item)
    history = [line.split()[3:] for line in zh.splitlines() if line.startswith("  2025-")]
    assert history == [["登记问题", "->", "发现问题"], ["交办", "发现问题", "->", "整改中"]]
    chinese(zh)
    assert "create            -> discovered" in en and "assign" in en
    as_json = [rectify("--lang", lang, "item", "show", item, as_json=True) for lang in ("zh", "en")]
    assert as_json[0].out == as_json[1].out
    assert [h["trigger"] for h in as_json[0].json()["history"]] == ["create", "assign"]
    assert "labels" not in as_json[0].json()


def test_web_api_errors_in_chinese(rectify: Rectify) -> None:
    """The API's one-line errors (a made-up token, a body that breaks the schema, a refused
    advance) are in the server's language: Chinese under zh, English under en, with the same
    statuses."""
    from rectify.web.app import create_app

    runtime = Runtime(rectify.url, now_text=NOW)
    token = identity.create_token(runtime.service(), "zhang")[1]
    before = current_language()
    answers: dict[str, list[tuple[int, str]]] = {}
    with TestClient(create_app(runtime)) as client:
        for lang in ("zh", "en"):
            with in_language(lang):
                answers[lang] = [(a.status_code, a.json()["error"]) for a in (
                    client.get("/api/items", headers={"Authorization": "Bearer rt_madeup"}),
                    client.post("/api/items/1/advance", json={"trigger": ""},
                                headers={"Authorization": f"Bearer {token}"}),
                    client.post("/api/items/1/advance", json={"fields": {}},
                                headers={"Authorization": f"Bearer {token}"}))]
    assert current_language() == before
    runtime.close()
    assert [s for s, _ in answers["zh"]] == [s for s, _ in answers["en"]] == [401, 422, 422]
    zh = [line for _, line in answers["zh"]]
    assert zh == ["此 API 令牌无效（不存在、已吊销或其人员已离开）", "trigger：至少 1 个字符",
                  "trigger：必填"]
    assert not any(ENGLISH.search(line) for line in zh)
    assert answers["en"][0][1].startswith("this API token is not valid")
    assert answers["en"][2][1] == "trigger: required"


def test_each_automatic_step_is_named_by_its_level(rectify: Rectify) -> None:
    """`item show` in Chinese names each automatic step of the ladder by its own level (自动提醒,
    自动督办, 自动约谈, 自动问责), as the web's item page does (engine/app/history_words): a
    约谈 must not read as a 督办 in the record of who was held to account."""
    item = rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                      "--assignee", "zhang", "--field", "description=x", actor="li").out.strip()
    rectify.ok("item", "advance", item, "assign", actor="li")
    rectify.ok("sweep", now="2025-11-26T10:00:00+08:00")
    card = rectify("--lang", "zh", "item", "show", item, now="2025-11-26T10:00:00+08:00").out
    said = [line.split()[3] for line in card.splitlines() if line.startswith("  2025-11-26")]
    assert said[:4] == ["自动提醒", "自动督办", "自动约谈", "自动问责"], card
    # The engine acts as 系统; a step that leaves the item where it is shows that state alone;
    # the 督办记录 names the state and the fired transition by their labels.
    steps = [line.split() for line in card.splitlines() if line.startswith("  2025-11-26")][:4]
    assert all(row[2] == "系统" and row[4] == "整改中" and "->" not in row for row in steps), card
    assert "整改中 第 4 步：问责，自动办理“" in card and "rectifying" not in card, card


def test_item_list_table_speaks_chinese(rectify: Rectify) -> None:
    """`item list` under zh heads its columns in Chinese, says the light as 红/黄/绿 and counts
    in words (1 个事项); under en the same table reads English (red, 1 item); --json is the
    same in both."""
    item = rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                      "--assignee", "zhang", "--field", "description=x", actor="li").out.strip()
    rectify.ok("item", "advance", item, "assign", actor="li")
    late = "2025-12-26T10:00:00+08:00"
    zh = rectify("--lang", "zh", "item", "list", now=late).out.splitlines()
    en = rectify("--lang", "en", "item", "list", now=late).out.splitlines()
    assert zh[0].split() == ["编号", "流程", "状态", "单位", "责任人", "期限", "亮灯", "问题"]
    assert zh[2].split()[7] == "红" and zh[-1] == "1 个事项"  # the due column is two words
    assert en[0].split()[6] == "light" and en[2].split()[7] == "red" and en[-1] == "1 item"
    assert rectify("--lang", "zh", "--json", "item", "list", now=late).out == \
        rectify("--lang", "en", "--json", "item", "list", now=late).out


def test_a_countersign_is_named_by_its_label_in_history_and_card() -> None:
    """A 会签 signature's history row (item show's card and the web's item page) and the card's
    会签 line name the step by its label — before, both gave the trigger's id ('高专干 cosign
    联合签字 -> 联合签字', '会签 cosign：已签 高专干')."""
    from rectify.commands.items import _authority_lines
    from rectify.engine.app.history_words import action

    row = {"trigger": "cosign", "kind": "signature", "data": {"roles": ["engineer"]}}
    detail = {"history": [{**row, "actor": "gao", "actor_name": "高专干"}],
              "awaited": {"cosign": "财政专干 (finance)"},
              "signatures": [{"trigger": "cosign", "actor": "gao"}],
              "labels": {"triggers": {"cosign": "联合签字"}}}
    with in_language("zh"):
        assert action(row, {"cosign": "联合签字"}) == "联合签字（已签）"
        assert _authority_lines(detail) == ["会签 联合签字：已签 高专干；尚待 财政专干 (finance)"]
    with in_language("en"):
        assert action(row, {}) == "cosign (signed)"


def test_sweep_lines_name_states_and_steps_by_their_labels(rectify: Rectify) -> None:
    """`sweep --dry-run` in Chinese names each step's state and what it does by the workflow's
    labels (整改中 第 4 步：问责，自动办理“追责问责”) and the transition it would fire by its label,
    with no English sentence; in English the ids; `--json` is the same in both languages."""
    rectify.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1",
               "--assignee", "zhang", "--field", "description=户籍信息不符",
               "--field", "category=信息不实", actor="li")
    rectify.ok("item", "advance", "1", "assign", actor="li")
    rectify.now = "2025-11-30T10:00:00+08:00"  # every step of 整改中's ladder is due
    zh, en = both(rectify, "sweep", "--dry-run")
    assert "将执行 事项 1 整改中 第 1 步：提醒" in zh
    assert "整改中 第 4 步：问责，自动办理“追责问责”" in zh
    assert "将流转 事项 1：追责问责 (hold_accountable)" in zh
    chinese(zh)
    assert "would apply item 1 rectifying step 4: 问责, fired hold_accountable" in en
    assert "would fire item 1: hold_accountable" in en
    as_json = [rectify("--lang", lang, "sweep", "--dry-run", as_json=True).out
               for lang in ("zh", "en")]
    assert as_json[0] == as_json[1]
