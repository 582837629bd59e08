"""Names as people type them, through the real command line (issue 17, points 6-8, 11, 16):
units, people, workflows and states by id or by name wherever a command takes them; an
ambiguous name lists the candidates (exit 2); a filter naming nothing is an error with a
did-you-mean (exit 4), never "0 items"; what a person reads shows names; JSON times carry the
workflow's offset and escalation steps count from 1; global options after the subcommand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock, parse_instant

from .cli_inprocess import Rectify, prepared_service
from .conftest import FIXTURES

NOW = "2025-09-26T10:00:00+08:00"
LATER = "2025-11-20T10:00:00+08:00"  # past every step of the rectifying ladder

# The fixture org plus what makes names ambiguous: a second 东关村 (under 大杨集镇) and a
# second 王五 — both happen in a real county.
ORG_EXTRA = """\
  - {id: wang2, name: 王五, roles: {rectifier: village-a2}}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised SQLite file with the org loaded, made once and copied by each test."""
    home = tmp_path_factory.mktemp("names")
    org = (FIXTURES / "org.yaml").read_text("utf-8")
    org = org.replace("          - {id: village-a2, name: 李庄村}\n",
                      "          - {id: village-a2, name: 李庄村}\n"
                      "          - {id: village-a3, name: 东关村}\n") + ORG_EXTRA
    (home / "org.yaml").write_text(org, "utf-8")
    prepared_service(f"sqlite:///{home / 'r.db'}", FixedClock(parse_instant(NOW)),
                     home / "files", org=home / "org.yaml",
                     workflows=("rectification", "identification", "exit"))
    return home / "r.db"


@pytest.fixture
def rectify(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """This test's own copy of the base database, driven through the command line."""
    for part in base.parent.glob("r.db*"):  # with its WAL
        shutil.copy2(part, tmp_path / part.name)
    return Rectify(f"sqlite:///{tmp_path / 'r.db'}", capsys, monkeypatch, now=NOW)


def new_item(rectify: Rectify, *extra: str) -> int:
    return int(rectify.ok("item", "new", "--workflow", "问题整改闭环", "--unit", "张庄村",
                          "--field", "description=户籍信息与实际不符", *extra, actor="李四").out)


def one_line(result: object, code: int, *fragments: str) -> str:
    """Exit `code`, one line on stderr containing every fragment, no traceback."""
    err = result.err  # type: ignore[attr-defined]
    assert result.code == code, err  # type: ignore[attr-defined]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_names_are_taken_wherever_a_command_takes_ids(rectify: Rectify) -> None:
    """`--workflow 问题整改闭环 --unit 张庄村 --assignee 张三`, `--as 李四`, `item assign ID 孙七`,
    `transfer --unit 李庄村`, `workflow show/diff 问题整改闭环`, and the list/bulk/sample
    filters by name and label all mean the same ids as the ids would."""
    item = new_item(rectify, "--assignee", "张三")
    shown = rectify.ok("item", "show", str(item), actor="li", as_json=True).json()
    assert (shown["workflow"], shown["unit"], shown["assignee"]) == \
        ("rectification", "village-a1", "zhang")
    assert shown["history"][0]["actor"] == "li"  # --as 李四
    by_name = rectify.ok("item", "list", "--workflow", "问题整改闭环", "--unit", "大杨集镇",
                         "--assignee", "张三", "--state", "发现问题", as_json=True).json()
    by_id = rectify.ok("item", "list", "--workflow", "rectification", "--unit", "town-a",
                       "--assignee", "zhang", "--state", "discovered", as_json=True).json()
    assert [r["id"] for r in by_name] == [r["id"] for r in by_id] == [item]
    rectify.ok("item", "bulk", "assign", "--state", "发现问题", "--unit", "张庄村", actor="李四")
    rectify.ok("item", "assign", str(item), "孙七", actor="li")
    assert rectify.ok("item", "show", str(item), as_json=True, actor="li").json()["assignee"] \
        == "sun"
    rectify.ok("item", "transfer", str(item), "--unit", "大杨集镇/李庄村", "--assignee", "孙七",
               "--comment", "属李庄村", actor="wang")
    assert rectify.ok("item", "show", str(item), as_json=True, actor="li").json()["unit"] \
        == "village-a2"
    assert rectify.ok("workflow", "show", "问题整改闭环").out.startswith("rectification:")
    assert rectify.ok("workflow", "diff", "问题整改闭环", "1", "1").out.startswith(
        "rectification v1 -> v1")
    drawn = rectify.ok("item", "sample", "--unit", "李庄村", "--state", "整改中", "--size", "1",
                       "--seed", "s", actor="wang", as_json=True).json()
    assert drawn["items"] == [item]


def test_an_ambiguous_name_lists_the_candidates(rectify: Rectify) -> None:
    """A unit name two villages share, a person name two people share, a state label two
    workflows give different states: exit 2, the candidates named, nothing created."""
    one_line(rectify("item", "new", "--workflow", "rectification", "--unit", "东关村",
                     "--field", "description=x", actor="qian"), 2, "village-a3", "village-b1")
    one_line(rectify("item", "list", "--assignee", "王五"), 2, "wang", "wang2")
    one_line(rectify("item", "list", "--state", "已销号"), 2, "closed in rectification",
             "removed in exit", "--workflow")
    # the unit above tells the two villages apart, as a ledger's 乡镇 column does
    assert rectify.ok("item", "list", "--unit", "城关镇/东关村").out.endswith("0 items\n")
    assert rectify.ok("item", "list", "--state", "已销号", "--workflow", "exit").code == 0
    assert rectify.ok("item", "list", as_json=True).json() == []


@pytest.mark.parametrize(("args", "fragments"), [
    (("item", "list", "--state", "rectifyng"), ("state 'rectifyng' not found", "'rectifying'")),
    (("item", "list", "--state", "markd"), ("state 'markd' not found",)),
    (("item", "list", "--unit", "张庄"), ("unit '张庄' not found", "'张庄村'")),
    (("item", "list", "--assignee", "张山"), ("person '张山' not found",)),
    (("item", "list", "--workflow", "rectificaton"), ("'rectification'",)),
    (("item", "bulk", "assign", "--state", "nosuch"), ("state 'nosuch' not found",)),
    (("item", "list", "--workflow", "exit", "--state", "整改中"),
     ("state '整改中' not found",)),
    (("workflow", "show", "rectificaton"), ("workflow 'rectificaton' not found",
                                            "'rectification'")),
    (("workflow", "graph", "nosuch"), ("workflow 'nosuch' not found",)),
    (("item", "new", "--workflow", "rectification", "--unit", "张庄", "--field",
      "description=x"), ("'张庄村'",)),
    (("item", "assign", "1", "孙八"), ("person '孙八' not found",)),
])
def test_a_name_that_fits_nothing_is_not_found_with_a_hint(
        rectify: Rectify, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    """A filter or argument naming no unit, person, workflow or state: exit 4 with the nearest
    names, never "0 items" or "fired on 0 of 0" with exit 0; nothing is written."""
    new_item(rectify)
    one_line(rectify(*args, actor="li"), 4, *fragments)
    assert [r["state"] for r in rectify.ok("item", "list", as_json=True).json()] == \
        ["discovered"]


def test_what_people_read_shows_names(rectify: Rectify) -> None:
    """`item list`, `item show`, the advance and assign messages name 张庄村, 张三 and 李四 and
    the states by label; the JSON keeps the ids and adds `*_name` beside them."""
    item = new_item(rectify, "--assignee", "zhang")
    listed = rectify.ok("item", "list").out
    row = next(line for line in listed.splitlines() if line.startswith(str(item)))
    assert "张庄村" in row and "张三" in row and "village-a1" not in row
    rows = rectify.ok("item", "list", as_json=True).json()
    assert (rows[0]["unit"], rows[0]["unit_name"], rows[0]["assignee"],
            rows[0]["assignee_name"]) == ("village-a1", "张庄村", "zhang", "张三")
    moved = rectify.ok("item", "advance", str(item), "assign", actor="li").out
    assert moved.strip() == f"item {item}: 交办 (assign) — 发现问题 -> 整改中"
    assigned = rectify.ok("item", "assign", str(item), "sun", actor="li").out
    assert assigned.strip() == f"item {item} assigned to 孙七 (sun)"
    card = rectify.ok("item", "show", str(item), actor="li").out
    assert "assignee  孙七 (sun)" in card
    assert any("李四" in line and "create" in line for line in card.splitlines())
    shown = rectify.ok("item", "show", str(item), actor="li", as_json=True).json()
    assert shown["assignee_name"] == "孙七"
    assert [h["actor_name"] for h in shown["history"]] == ["李四", "李四", "李四"]


def test_global_options_after_the_subcommand(rectify: Rectify) -> None:
    """`rectify item show 1 --json --as li --now T` reads as `rectify --json --as li --now T
    item show 1`, as in gh and kubectl."""
    item = new_item(rectify)
    after = rectify.ok("item", "show", str(item), "--json", "--as", "li", "--now", LATER).json()
    before = rectify.ok("item", "show", str(item), actor="li", now=LATER, as_json=True).json()
    assert after == before and after["id"] == item
    listed = rectify.ok("item", "list", "--state", "发现问题", "--json").json()
    assert [r["id"] for r in listed] == [item]


def test_json_times_carry_the_workflows_offset_and_steps_count_from_one(
        rectify: Rectify) -> None:
    """`item advance --json` gives its time at the workflow's offset (+08:00), the same
    instant and text as the history row `item show` gives; `sweep --json`, `item show` and the
    sweep's lines number escalation steps from 1, as the workflow file lists them."""
    item = new_item(rectify, "--assignee", "zhang")
    moved = rectify.ok("item", "advance", str(item), "assign", actor="li", as_json=True).json()
    assert moved["at"] == "2025-09-26T10:00:00+08:00"
    shown = rectify.ok("item", "show", str(item), actor="li", as_json=True).json()
    assert shown["history"][-1]["at"] == moved["at"]
    assert (moved["source_label"], moved["dest_label"]) == ("发现问题", "整改中")
    swept = rectify.ok("sweep", now=LATER, as_json=True).json()
    steps = [e["step"] for e in swept["escalations"] if e["item"] == item]
    assert steps[0] == 1 and 0 not in steps
    shown = rectify.ok("item", "show", str(item), actor="li", now=LATER, as_json=True).json()
    assert [e["step"] for e in shown["escalations"]] == [1, 2, 3, 4]
    card = rectify.ok("item", "show", str(item), actor="li", now=LATER).out
    assert "整改中 step 1:" in card or "rectifying step 1:" in card
    assert "step 0" not in card


# Every command option that names a unit, person, workflow or state (walked from `rectify
# --help`): the command with "{}" where the name goes, the name, a typo of it, the name the
# did-you-mean should offer, and who acts. `--as` is the acting person, not a filter: an
# unknown one stays a refusal (exit 3), tested in test_cli_items.py.
SAMPLE = ("item", "sample", "--size", "1", "--seed", "s")
EVERY_NAME = [
    (("item", "new", "--workflow", "{}", "--unit", "village-a1", "--field", "description=x"),
     "问题整改闭环", "问题整改闭合", "问题整改闭环", "li"),
    (("item", "new", "--workflow", "rectification", "--unit", "{}", "--field",
      "description=x"), "张庄村", "张庄", "张庄村", "li"),
    (("item", "new", "--workflow", "rectification", "--unit", "village-a1", "--assignee", "{}",
      "--field", "description=x"), "张三", "张山三", "张三", "li"),
    (("item", "list", "--state", "{}"), "发现问题", "发现问", "发现问题", None),
    (("item", "list", "--unit", "{}"), "大杨集镇", "大杨集", "大杨集镇", None),
    (("item", "list", "--assignee", "{}"), "张三", "张山三", "张三", None),
    (("item", "list", "--workflow", "{}"), "问题整改闭环", "问题整改闭合", "问题整改闭环", None),
    (("item", "bulk", "assign", "--dry-run", "--state", "{}"), "发现问题", "发现问", "发现问题",
     "li"),
    (("item", "bulk", "assign", "--dry-run", "--unit", "{}"), "张庄村", "张庄", "张庄村", "li"),
    (("item", "bulk", "assign", "--dry-run", "--assignee", "{}"), "张三", "张山三", "张三", "li"),
    (("item", "bulk", "assign", "--dry-run", "--workflow", "{}"), "问题整改闭环", "问题整改闭合",
     "问题整改闭环", "li"),
    ((*SAMPLE, "--unit", "{}"), "大杨集镇", "大杨集", "大杨集镇", "wang"),
    ((*SAMPLE, "--state", "{}"), "发现问题", "发现问", "发现问题", "wang"),
    ((*SAMPLE, "--assignee", "{}"), "张三", "张山三", "张三", "wang"),
    ((*SAMPLE, "--workflow", "{}"), "问题整改闭环", "问题整改闭合",
     "问题整改闭环", "wang"),
    (("item", "assign", "{item}", "{}"), "孙七", "孙七七", "孙七", "li"),
    (("item", "transfer", "{item}", "--unit", "{}", "--comment", "属李庄村"), "李庄村", "李庄",
     "李庄村", "wang"),
    (("item", "transfer", "{item}", "--unit", "village-a2", "--assignee", "{}", "--comment",
      "属李庄村"), "孙七", "孙七七", "孙七", "wang"),
    (("item", "import", "{ledger}", "--workflow", "{}"), "问题整改闭环", "问题整改闭合",
     "问题整改闭环", "qian"),
    (("item", "import", "{bare_ledger}", "--workflow", "rectification", "--unit", "{}"),
     "张庄村", "张庄", "张庄村", "qian"),
    (("ledger", "export", "-o", "{out}.xlsx", "--workflow", "{}"), "问题整改闭环", "问题整改闭合",
     "问题整改闭环", None),
    (("ledger", "export", "-o", "{out}.xlsx", "--unit", "{}"), "张庄村", "张庄", "张庄村", None),
    (("report", "weekly", "--unit", "{}"), "大杨集镇", "大杨集", "大杨集镇", None),
    (("report", "weekly", "--workflow", "{}"), "问题整改闭环", "问题整改闭合", "问题整改闭环",
     None),
    (("print", "publicity", "--workflow", "{}", "--unit", "张庄村"), "贫困户（监测对象）识别",
     "贫困户（监测对象）识", "贫困户（监测对象）识别", "qian"),
    (("print", "publicity", "--workflow", "identification", "--unit", "张庄村", "--state", "{}"),
     "第一次公示（村内公示）", "第一次公示（村内公）", "第一次公示（村内公示）", "qian"),
    (("print", "publicity", "--workflow", "identification", "--unit", "{}"), "张庄村", "张庄",
     "张庄村", "qian"),
    (("workflow", "show", "{}"), "问题整改闭环", "问题整改闭合", "问题整改闭环", None),
    (("workflow", "graph", "{}"), "问题整改闭环", "问题整改闭合", "问题整改闭环", None),
    (("workflow", "diff", "{}", "1", "1"), "问题整改闭环", "问题整改闭合", "问题整改闭环", None),
    (("workflow", "migrate", "{}", "--to", "1", "--dry-run"), "问题整改闭环", "问题整改闭合",
     "问题整改闭环", "qian"),
    (("token", "create", "{}"), "张三", "张山三", "张三", None),
    (("user", "password", "{}"), "张三", "张山三", "张三", None),
]


@pytest.mark.parametrize(("args", "name", "typo", "offered", "actor"), EVERY_NAME,
                         ids=[" ".join(a for a in c[0] if not a.startswith("{"))
                              + f" {c[1]}" for c in EVERY_NAME])
def test_every_option_that_names_something_takes_the_name_and_catches_a_typo(
        rectify: Rectify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        args: tuple[str, ...], name: str, typo: str, offered: str, actor: str | None) -> None:
    """Each command option naming a unit, person, workflow or state, through the one resolver:
    the name works (exit 0), and a typo is exit 4 with a did-you-mean offering the name on one
    stderr line, no traceback."""
    item = new_item(rectify, "--assignee", "zhang")
    ledger = tmp_path / "台账.csv"
    ledger.write_text("问题编号,乡镇,村,问题描述\nT-1,大杨集镇,张庄村,户籍信息不符\n", "utf-8")
    bare = tmp_path / "无单位.csv"
    bare.write_text("问题编号,问题描述\nT-2,收入测算表未填写\n", "utf-8")
    places = {"{item}": str(item), "{ledger}": str(ledger), "{bare_ledger}": str(bare)}

    def filled(value: str, round_: str) -> list[str]:
        out = []
        for a in args:
            a = places.get(a, a).replace("{out}", str(tmp_path / round_))
            out.append(value if a == "{}" else a)
        return out

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long enough password\n"))
    rectify.ok(*filled(name, "name"), actor=actor)
    line = one_line(rectify(*filled(typo, "typo"), actor=actor), 4, "not found",
                    f"'{offered}'")
    assert "did you mean" in line, line


def test_every_json_time_has_the_offset_and_history_steps_count_from_one(
        rectify: Rectify) -> None:
    """`item assign --json` gives the item's deadline, `item list --json` and `item show
    --json` every time — the history rows' own data too (a step's `planned_at`, an assignment's
    old and new `due_at`) — at the workflow's offset (+08:00), never +00:00; an escalation's
    history row counts its step from 1, as `escalations` and `sweep --json` do."""
    item = new_item(rectify, "--assignee", "zhang")
    rectify.ok("item", "advance", str(item), "assign", actor="li")
    assigned = rectify.ok("item", "assign", str(item), "孙七", "--due", "2025-10-20",
                          "--comment", "另派专人", actor="li", as_json=True).json()
    assert assigned["due_at"] == "2025-10-20T23:59:59+08:00"
    assert rectify.ok("item", "list", as_json=True).json()[0]["due_at"] == assigned["due_at"]
    rectify.ok("sweep", now=LATER)
    shown = rectify.ok("item", "show", str(item), actor="li", now=LATER, as_json=True).json()
    times = [shown["due_at"], *(h["at"] for h in shown["history"]),
             *(e["at"] for e in shown["escalations"])]
    by_kind = {h["kind"]: h["data"] for h in shown["history"]}
    times += [*by_kind["assign"]["due_at"], *(h["data"]["planned_at"] for h in shown["history"]
                                             if h["kind"] == "escalation")]
    assert times and all(t.endswith("+08:00") for t in times if t), times
    steps = [h["data"]["step"] for h in shown["history"] if h["kind"] == "escalation"]
    assert steps == [e["step"] for e in shown["escalations"]] == [1, 2, 3, 4]
