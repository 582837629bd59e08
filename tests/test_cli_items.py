"""The `rectify` command line on a SQLite file: item commands, every refusal kind with its exit
code and one-line message, the JSON shapes scripts rely on, --now and the RECTIFY_* variables,
the audit check, and attachments that cannot escape the files store. Commands run in-process
through the console script's own entry (`cli_inprocess.invoke`); the tests that are about the
installed script itself (its environment variables, its imports) start it as a process."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .cli_inprocess import invoke
from .conftest import FIXTURES

NOW = "2025-09-26T10:00:00+08:00"  # a Friday morning in Beijing
LATER = "2025-11-20T10:00:00+08:00"  # far past every deadline of an item created at NOW
OFFSET = re.compile(r"[+-]\d\d:\d\d$")
ORG = FIXTURES / "org.yaml"
# The installed console script (beside this interpreter, so no version-manager shim in between).
RECTIFY = shutil.which("rectify", path=str(Path(sys.executable).parent)) or "rectify"

VOTE_WORKFLOW = """\
workflow: vote
title: 表决
fields:
  attendees: {type: number, label: 实到人数}
  votes_for: {type: number, label: 赞成票数}
roles: {leader: 分管领导}
initial: open
states:
  open: {label: 待表决, deadline: 5 workdays}
  passed: {label: 已通过, final: true}
transitions:
  - {trigger: pass, label: 表决通过, source: open, dest: passed, roles: [leader],
     requires: [attendees, votes_for], when: "votes_for * 2 > attendees"}
"""


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    return {**env, **(extra or {})}


@dataclass
class Cli:
    """The console script against one SQLite file in `home`."""

    home: Path

    @property
    def db(self) -> Path:
        return self.home / "r.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def __call__(self, *args: str, actor: str | None = None, now: str | None = NOW,
                 db: bool = True, env: dict[str, str] | None = None,
                 cwd: Path | None = None, process: bool = False
                 ) -> subprocess.CompletedProcess[str]:
        """The command as a user runs it: in this process by default (same parsing, exit codes
        and streams, without an interpreter start-up each), as the real console script in a
        child process with `process=True`."""
        cmd = [RECTIFY] + (["--db", self.url] if db else [])
        cmd += (["--as", actor] if actor else []) + (["--now", now] if now else [])
        if not process:
            return invoke([*cmd, *args], _clean_env(env), cwd or self.home)
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120,
                              cwd=cwd or self.home, env=_clean_env(env), check=False)

    def many(self, calls: list[tuple[str, ...]], **kwargs: Any
             ) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands, one after another."""
        return [self(*args, **kwargs) for args in calls]

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok("--json", *args, **kwargs))

    def new(self, actor: str = "li", unit: str = "village-a1", *extra: str) -> int:
        out = self.ok("item", "new", "--workflow", "rectification", "--unit", unit,
                      "--field", "description=户籍信息与实际不符", *extra, actor=actor)
        return int(out)

    def copy_to(self, home: Path) -> Cli:
        home.mkdir(parents=True, exist_ok=True)
        for f in self.home.glob("r.db*"):
            shutil.copy2(f, home / f.name)
        return Cli(home)


def refused(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """Exit `code`, nothing on stdout, exactly one line on stderr that contains `fragments`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A database made by `rectify init` and `rectify org load`, copied by each test."""
    cli = Cli(tmp_path_factory.mktemp("base"))
    assert "database ready" in cli.ok("init")
    assert "org loaded" in cli.ok("org", "load", str(ORG))
    return cli


@pytest.fixture
def cli(base: Cli, tmp_path: Path) -> Cli:
    """This test's own copy of the initialised database."""
    return base.copy_to(tmp_path / "db")


# --- refusals: one shared database, commands run side by side ---------------------------------

@dataclass
class World:
    cli: Cli
    rectifying: int  # assigned to zhang
    accepting: int  # assignee sun submitted it (sun is also an acceptor)
    vote: int  # a `vote` item whose votes do not carry the guard
    before: dict[str, list[tuple[Any, ...]]]
    after: dict[str, list[tuple[Any, ...]]]
    results: dict[str, subprocess.CompletedProcess[str]]


# name: (actor, args, exit code, fragments of the one stderr line)
REFUSALS: dict[str, tuple[str | None, tuple[str, ...], int, tuple[str, ...]]] = {
    "wrong state": ("li", ("item", "advance", "{rectifying}", "accept"), 3,
                    ("'accept' is not possible in state 整改中 (rectifying)",)),
    "unknown trigger": ("li", ("item", "advance", "{rectifying}", "approve"), 3,
                        ("no trigger 'approve'", "整改中")),
    "wrong role": ("zhao", ("item", "advance", "{rectifying}", "hold_accountable"), 3,
                   ("hold_accountable", "分管领导 (leader)")),
    "not the assignee": ("sun", ("item", "advance", "{rectifying}", "submit",
                                 "--field", "measures=已更正"), 3,
                         ("only the assignee (张三)",)),
    "separation of duties": ("sun", ("item", "advance", "{accepting}", "accept"), 3,
                             ("孙七 fired 'submit' (提交验收)", "separation of duties")),
    "missing fields": ("zhang", ("item", "advance", "{rectifying}", "submit"), 3,
                       ("requires", "整改措施 (measures)", "佐证材料 (evidence)")),
    "comment required": ("zhao", ("item", "advance", "{accepting}", "reject"), 3,
                         ("'reject'", "requires a comment")),
    "blank comment": ("zhao", ("item", "advance", "{accepting}", "reject", "--comment", "  "),
                      3, ("requires a comment",)),
    "guard false": ("wang", ("item", "advance", "{vote}", "pass"), 3,
                    ("votes_for * 2 > attendees", "not met", "实到人数 (attendees) = 10")),
    "person not in org": ("nobody", ("item", "advance", "{rectifying}", "submit"), 3,
                          ("'nobody' is not a person in the org file",)),
    "a typo in --as": ("zhnag", ("item", "advance", "{rectifying}", "submit"), 3,
                       ("'zhnag' is not a person", "did you mean 'zhang'")),
    "a typo in --as, reading": ("zhnag", ("item", "list"), 3,
                                ("'zhnag' is not a person", "did you mean 'zhang'")),
    "nobody acting": (None, ("item", "advance", "{rectifying}", "submit"), 2,
                      ("--as", "RECTIFY_USER")),
    "create without a role there": ("zhou", ("item", "new", "--workflow", "rectification",
                                             "--unit", "village-a1"), 3, ("no role",)),
    "assign to a stranger": ("li", ("item", "assign", "{rectifying}", "nobody"), 4,
                             ("person 'nobody' not found",)),
    "bad choice": ("li", ("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                          "--field", "category=不存在"), 3, ("问题类别 (category)", "'不存在'")),
    "unknown item (show)": ("li", ("item", "show", "9999"), 4, ("item 9999 not found",)),
    "unknown item (advance)": ("li", ("item", "advance", "9999", "accept"), 4,
                               ("item 9999 not found",)),
    "unknown workflow": ("li", ("item", "new", "--workflow", "nope", "--unit", "village-a1"), 4,
                         ("workflow 'nope' not found",)),
    "unknown unit": ("li", ("item", "new", "--workflow", "rectification", "--unit", "mars"), 4,
                     ("unit 'mars' not found",)),
    "field without =": ("li", ("item", "new", "--workflow", "rectification", "--unit",
                               "village-a1", "--field", "description"), 2,
                        ("--field 'description'", "KEY=VALUE")),
    "unknown field": ("li", ("item", "new", "--workflow", "rectification", "--unit",
                             "village-a1", "--field", "colour=red"), 2,
                      ("unknown field 'colour'", "description (问题描述)")),
    "due unparsable": ("li", ("item", "new", "--workflow", "rectification", "--unit",
                              "village-a1", "--due", "next friday"), 2,
                       ("--due 'next friday'",)),
    "assign due unparsable": ("li", ("item", "assign", "{rectifying}", "sun", "--due",
                                     "2025-13-45"), 2, ("--due '2025-13-45'",)),
    "now unparsable": ("li", ("--now", "yesterday", "item", "list"), 2, ("--now 'yesterday'",)),
}


def database_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an item command may write, read with plain sqlite3."""
    tables = ("items", "history", "escalation_steps", "attachments", "outbox", "people",
              "workflow_versions")
    with sqlite3.connect(db) as conn:
        rows = {t: conn.execute(f"select * from {t} order by 1").fetchall() for t in tables}
    conn.close()
    return rows


@pytest.fixture(scope="module")
def world(base: Cli, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Three items in telling states, then every refusal command at once (they write nothing)."""
    cli = base.copy_to(tmp_path_factory.mktemp("world"))
    rectifying = cli.new("li", "village-a1", "--assignee", "zhang")
    cli.ok("item", "advance", str(rectifying), "assign", actor="li")
    accepting = cli.new("li", "village-a1", "--assignee", "sun")
    cli.ok("item", "advance", str(accepting), "assign", actor="li")
    photo = cli.home / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg")
    cli.ok("item", "advance", str(accepting), "submit", "--field", "measures=已更正",
           "--attach", str(photo), actor="sun")
    workflow = cli.home / "vote.yaml"
    workflow.write_text(VOTE_WORKFLOW, "utf-8")
    cli.ok("workflow", "load", str(workflow))
    vote = int(cli.ok("item", "new", "--workflow", "vote", "--unit", "village-a1",
                      "--field", "attendees=10", "--field", "votes_for=5", actor="wang"))
    ids = {"rectifying": rectifying, "accepting": accepting, "vote": vote}

    before = database_rows(cli.db)

    def attempt(case: tuple[str | None, tuple[str, ...], int, tuple[str, ...]]
                ) -> subprocess.CompletedProcess[str]:
        actor, args, _, _ = case
        return cli(*(a.format(**ids) for a in args), actor=actor)

    results = {name: attempt(case) for name, case in REFUSALS.items()}
    return World(cli, rectifying, accepting, vote, before, database_rows(cli.db), results)


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusal(world: World, name: str) -> None:
    """Each refusal kind: its exit code and one stderr line naming the reason in user terms."""
    _, _, code, fragments = REFUSALS[name]
    refused(world.results[name], code, *fragments)


def test_refusals_wrote_nothing(world: World) -> None:
    """After all refused commands every row of the database is as before."""
    assert world.after == world.before
    assert [row[0] for row in world.after["items"]] == sorted([world.rectifying,
                                                               world.accepting, world.vote])


def test_guard_true_passes(cli: Cli, tmp_path: Path) -> None:
    """The same guard with a majority of votes lets the transition through."""
    workflow = tmp_path / "vote.yaml"
    workflow.write_text(VOTE_WORKFLOW, "utf-8")
    cli.ok("workflow", "load", str(workflow))
    item = cli.ok("item", "new", "--workflow", "vote", "--unit", "village-a1",
                  "--field", "attendees=10", "--field", "votes_for=5", actor="wang").strip()
    refused(cli("item", "advance", item, "pass", actor="wang"), 3, "not met")
    out = cli.json("item", "advance", item, "pass", "--field", "votes_for=6", actor="wang")
    assert (out["source"], out["dest"]) == ("open", "passed")


# --- invalid files and an uninitialised database ----------------------------------------------

def test_invalid_org_file(cli: Cli, tmp_path: Path) -> None:
    """A broken org file: exit 6, FILE:LINE:COL: message, and the org stays as it was."""
    syntax = tmp_path / "org-syntax.yaml"
    syntax.write_text("units:\n  - id: x\n    name: [\n", "utf-8")
    result = cli("org", "load", str(syntax))
    assert result.returncode == 6 and "Traceback" not in result.stderr
    assert re.match(rf"{re.escape(str(syntax))}:\d+:\d+: .*YAML", result.stderr), result.stderr
    unknown_unit = tmp_path / "org-unit.yaml"
    unknown_unit.write_text("units:\n  - {id: x, name: X}\npeople:\n"
                            "  - {id: p, name: P, roles: {leader: nowhere}}\n", "utf-8")
    result = cli("org", "load", str(unknown_unit))
    assert result.returncode == 6
    assert result.stderr.startswith(f"{unknown_unit}:4:"), result.stderr
    assert "nowhere" in result.stderr
    # neither the unit nor the person of the refused file was loaded
    refused(cli("item", "new", "--workflow", "rectification", "--unit", "x", actor="p"), 3,
            "'p' is not a person")
    refused(cli("item", "new", "--workflow", "rectification", "--unit", "x", actor="li"), 4,
            "unit 'x' not found")


def test_invalid_workflow_files(cli: Cli) -> None:
    """Broken workflows: `validate` and `load` exit 6 with FILE:LINE:COL: message; none loads."""
    broken = {FIXTURES / "broken" / "unknown_dest.yaml": 22,
              FIXTURES / "broken" / "yaml_syntax.yaml": 3}
    checked = cli("workflow", "validate", *map(str, broken))
    loads = cli.many([("workflow", "load", str(path)) for path in broken])
    for result in (checked, *loads):
        assert result.returncode == 6 and "Traceback" not in result.stderr, result.stderr
    for (path, line), load in zip(broken.items(), loads, strict=True):
        where = rf"^{re.escape(str(path))}:{line}:\d+: \S"
        assert re.search(where, checked.stderr, re.MULTILINE), checked.stderr
        assert re.search(where, load.stderr, re.MULTILINE), load.stderr
    listed = {w["workflow"] for w in cli.json("workflow", "list")}
    assert listed == {"exit", "identification", "rectification"}


def test_database_not_initialised(tmp_path: Path) -> None:
    """A database without tables: a nonzero exit and one line telling to run `rectify init`."""
    cli = Cli(tmp_path)
    result = cli("item", "list", actor="li")
    assert result.returncode not in (0, 2, 3, 4), result.stderr
    refused(result, result.returncode, "rectify init")
    result = cli("org", "load", str(ORG))
    refused(result, result.returncode, "rectify init")
    assert result.returncode != 0


# --- output shapes --------------------------------------------------------------------------------

def test_new_prints_the_id_alone(cli: Cli) -> None:
    """`item new` prints the new id and nothing else; `--json` gives {"id": N}."""
    first = cli("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                "--field", "description=x", actor="li")
    assert (first.returncode, first.stdout) == (0, "1\n")
    assert first.stderr == ""
    second = cli.json("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                      actor="li")
    assert second == {"id": 2}


SHOW_KEYS = {"id", "workflow", "version", "state", "state_label", "unit", "assignee", "due_at",
             "light", "due_provisional", "fields", "history", "escalations", "triggers"}


def test_show_json_shape(cli: Cli) -> None:
    """`--json item show`: the contract's keys, times with an offset, history and escalations."""
    item = cli.new("li", "village-a1", "--assignee", "zhang", "--field", "category=信息不实")
    cli.ok("item", "advance", str(item), "assign", "--comment", "请尽快整改", actor="li")
    shown = cli.json("item", "show", str(item), actor="zhang")
    assert shown.keys() >= SHOW_KEYS
    assert (shown["id"], shown["workflow"], shown["version"]) == (item, "rectification", 1)
    assert (shown["state"], shown["state_label"]) == ("rectifying", "整改中")
    assert (shown["unit"], shown["assignee"], shown["light"]) == ("village-a1", "zhang", "green")
    assert shown["due_provisional"] is False and OFFSET.search(shown["due_at"])
    assert shown["fields"] == {"description": "户籍信息与实际不符", "category": "信息不实"}
    assert shown["triggers"] == ["submit"]
    history = shown["history"]
    assert all({"trigger", "source", "dest", "actor", "at", "comment"} <= h.keys()
               for h in history)
    assert [(h["trigger"], h["source"], h["dest"], h["actor"], h["comment"]) for h in history] == [
        ("create", None, "discovered", "li", None),
        ("assign", "discovered", "rectifying", "li", "请尽快整改")]
    assert all(h["at"] == NOW for h in history)
    assert shown["escalations"] == []

    swept = cli.json("sweep", now=LATER)
    assert {"item": item, "trigger": "hold_accountable"} in \
        [{k: f[k] for k in ("item", "trigger")} for f in swept["fired"]]
    shown = cli.json("item", "show", str(item), actor="wang", now=LATER)
    assert (shown["state"], shown["triggers"]) == ("accountable", ["conclude"])
    assert [e["step"] for e in shown["escalations"] if e["state"] == "rectifying"] == [1, 2, 3, 4]
    for e in shown["escalations"]:
        assert {"state", "step", "at", "action"} <= e.keys() and OFFSET.search(e["at"])
    assert all(OFFSET.search(h["at"]) for h in shown["history"])
    assert shown["history"][-1]["trigger"] == "hold_accountable"
    assert shown["history"][-1]["actor"] == "system"


def test_show_text_card(cli: Cli) -> None:
    """The plain card names the state label, the assignee and what the reader may do."""
    item = cli.new("li", "village-a1", "--assignee", "zhang")
    card = cli.ok("item", "show", str(item), actor="li")
    assert "发现问题 (discovered)" in card and "zhang" in card
    assert "you may: assign, fix_on_spot" in card


def test_reading_items_loads_no_notification_logging_or_scheduler_code(cli: Cli) -> None:
    """`item show` and `item list` start without notices, channels, structlog, APScheduler,
    openpyxl or SQLAlchemy's ORM: they only read (a cold start is mostly imports). Nor do they
    compile guards (Jinja2; rectification has a `when:`) or fire (`transitions`), and
    chinesecalendar loads only to count working days (this item, 发现问题, has no deadline)."""
    item = cli.new("li", "village-a1", "--assignee", "zhang")
    heavy = ("structlog", "smtplib", "apscheduler", "openpyxl", "sqlalchemy.orm",
             "rectify.notifications.notices", "rectify.notifications.channels",
             "jinja2", "transitions", "chinese_calendar")
    for args in (["item", "show", str(item)], ["item", "list"]):
        code = ("import sys; from rectify.cli import main\n"
                f"sys.argv = ['rectify', '--db', {cli.url!r}, '--as', 'li', *{args!r}]\n"
                "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc\n"
                f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=120, cwd=cli.home, env=_clean_env(), check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "[]", (args, result.stdout)


def test_list_json_and_filters(cli: Cli) -> None:
    """`item list --json` rows carry the contract's keys; each filter narrows the list."""
    a = cli.new("li", "village-a1", "--assignee", "zhang")
    cli.ok("item", "advance", str(a), "assign", actor="li")
    b = cli.new("qian", "village-b1", "--assignee", "zhou")
    rows = cli.json("item", "list", actor="li")
    assert [r["id"] for r in rows] == [a, b]
    for row in rows:
        assert {"id", "workflow", "state", "unit", "assignee", "due_at", "light"} <= row.keys()
    assert OFFSET.search(rows[0]["due_at"])
    assert (rows[1]["due_at"], rows[1]["light"]) == (None, None)  # 发现问题 has no deadline
    assert [(r["state"], r["unit"], r["assignee"]) for r in rows] == [
        ("rectifying", "village-a1", "zhang"), ("discovered", "village-b1", "zhou")]

    expected = {
        ("--state", "rectifying"): [a],
        ("--state", "closed"): [],
        ("--unit", "town-b"): [b],
        ("--unit", "county"): [a, b],
        ("--assignee", "zhou"): [b],
        ("--workflow", "rectification", "--unit", "town-a"): [a],
        ("--workflow", "exit"): [],
        ("--overdue",): [],
        ("--overdue", LATER): [a],
    }
    listed = cli.many([("--now", f[-1], "--json", "item", "list", *f[:-1]) if f[-1] == LATER
                       else ("--json", "item", "list", *f) for f in expected], actor="li")
    got = {f: [r["id"] for r in json.loads(out.stdout)] for f, out in zip(expected, listed,
                                                                          strict=True)}
    assert got == expected
    text = cli.ok("item", "list", "--state", "rectifying", actor="li")
    assert "整改中" in text and text.rstrip().endswith("1 item")


def test_now_option_and_env_vars(cli: Cli, tmp_path: Path) -> None:
    """RECTIFY_DB, RECTIFY_USER and RECTIFY_NOW stand in for the options; options win."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"RECTIFY_DB": cli.url, "RECTIFY_USER": "li", "RECTIFY_NOW": "2025-09-29T08:30:00Z"}
    result = cli("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                 "--field", "description=x", db=False, now=None, env=env, cwd=elsewhere,
                 process=True)
    assert result.returncode == 0, result.stderr
    item = result.stdout.strip()
    assert not (elsewhere / "rectify.db").exists()
    shown = cli.json("item", "show", item, actor="wang")
    assert (shown["history"][0]["actor"], shown["history"][0]["at"]) == \
        ("li", "2025-09-29T16:30:00+08:00")
    # --now beats RECTIFY_NOW, --as beats RECTIFY_USER; a time without offset is Beijing time
    result = cli("--now", "2025-09-30T09:00", "--as", "wang", "item", "advance", item, "assign",
                 db=False, now=None, env=env, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    last = cli.json("item", "show", item, actor="wang")["history"][-1]
    assert (last["actor"], last["at"]) == ("wang", "2025-09-30T09:00:00+08:00")


def test_item_due_overrides_the_rectification_deadline(cli: Cli) -> None:
    """An item filed with --due keeps that deadline when it is assigned into 整改中."""
    item = str(cli.new("li", "village-a1", "--assignee", "zhang", "--due", "2025-12-31"))
    assert cli.json("item", "show", item, actor="li")["due_at"] == "2025-12-31T23:59:59+08:00"
    cli.ok("item", "advance", item, "assign", actor="li")
    shown = cli.json("item", "show", item, actor="li")
    assert (shown["state"], shown["due_at"]) == ("rectifying", "2025-12-31T23:59:59+08:00")


def test_now_moves_the_light(cli: Cli) -> None:
    """The same item reads green at creation and red past its deadline, by --now alone."""
    item = str(cli.new("li", "village-a1", "--assignee", "zhang"))
    cli.ok("item", "advance", item, "assign", actor="li")
    assert cli.json("item", "show", item, actor="li")["light"] == "green"
    assert cli.json("item", "show", item, actor="li", now=LATER)["light"] == "red"


# --- audit and attachments ------------------------------------------------------------------------

def test_audit_verify_detects_an_edited_row(cli: Cli) -> None:
    """`audit verify` passes, then fails naming the item and row after a direct SQL edit."""
    cli.new("li")
    item = cli.new("li", "village-a1", "--assignee", "zhang")
    cli.ok("item", "advance", str(item), "assign", "--comment", "请尽快整改", actor="li")
    assert "audit ok: all 2 items verify" in cli.ok("audit", "verify")
    assert cli.json("audit", "verify") == {"ok": True, "items": 2, "broken": None}
    with sqlite3.connect(cli.db) as conn:
        changed = conn.execute("update history set comment = '请慢慢整改' "
                               "where item_id = ? and seq = 2", (item,)).rowcount
    conn.close()
    assert changed == 1
    result = cli("audit", "verify")
    assert result.returncode != 0
    refused(result, result.returncode, f"item {item}: history row 2", "changed")


def test_audit_verify_detects_a_deleted_row(cli: Cli) -> None:
    """Deleting the middle row of a history breaks the chain at that row."""
    item = cli.new("li", "village-a1", "--assignee", "zhang")
    cli.ok("item", "advance", str(item), "assign", actor="li")
    cli.ok("item", "assign", str(item), "sun", actor="li")
    with sqlite3.connect(cli.db) as conn:
        conn.execute("delete from history where item_id = ? and seq = 2", (item,))
    conn.close()
    result = cli("audit", "verify")
    assert result.returncode != 0
    refused(result, result.returncode, f"item {item}: history row 2", "missing")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_attachment_names_cannot_escape_the_store(cli: Cli, tmp_path: Path) -> None:
    """Files named with `..` and absolute-looking names land in rectify-files/ only."""
    src = tmp_path / "src" / "deep"
    src.mkdir(parents=True)
    names = ["..\\..\\..\\escaped.txt", "...", "C:\\Windows\\evil.txt",
             "\\etc\\passwd", "..evil", ". ."]
    paths = []
    for i, name in enumerate(names):
        (src / name).write_bytes(f"evidence {i}".encode())
        # reach every file through `..` components of the path as well
        paths.append(str(src / ".." / "deep" / name))
    item = str(cli.new("li", "village-a1", "--assignee", "zhang"))
    cli.ok("item", "advance", item, "assign", actor="li")
    before_outside = _tree(tmp_path.parent) - {p for p in _tree(tmp_path.parent)
                                               if p.startswith(tmp_path.name + os.sep + "db")}
    attach = [a for p in paths for a in ("--attach", p)]
    cli.ok("item", "advance", item, "submit", "--field", "measures=已更正", *attach,
           actor="zhang")

    store = cli.home / "rectify-files"
    stored = [p for p in store.rglob("*") if p.is_file()]
    assert len(stored) == len(names)
    for p in stored:
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{64}", str(p.relative_to(store)))
        assert p.relative_to(store).parts[0] == p.name[:2]
    assert {p.read_text() for p in stored} == {f"evidence {i}" for i in range(len(names))}
    assert {p.name for p in cli.home.iterdir()} <= {"r.db", "r.db-wal", "r.db-shm",
                                                    "rectify-files"}
    after_outside = _tree(tmp_path.parent) - {p for p in _tree(tmp_path.parent)
                                              if p.startswith(tmp_path.name + os.sep + "db")}
    assert after_outside == before_outside

    evidence = cli.json("item", "show", item, actor="zhang")["fields"]["evidence"]
    assert len(evidence) == len(names)
    for record in evidence:
        assert "/" not in record["name"] and "\\" not in record["name"]
        assert not record["name"].startswith(".") and record["name"]
    assert {"escaped.txt", "evil.txt", "passwd"} <= {r["name"] for r in evidence}


def test_the_same_file_attached_twice_is_listed_once(cli: Cli, tmp_path: Path) -> None:
    """One content under two names in one advance, and again in a later advance, is one entry
    in the files field and one attachment row; a different file still adds its own."""
    (tmp_path / "a.jpg").write_bytes(b"same photo")
    (tmp_path / "copy.jpg").write_bytes(b"same photo")
    (tmp_path / "other.jpg").write_bytes(b"another photo")
    item = str(cli.new("li", "village-a1", "--assignee", "zhang"))
    cli.ok("item", "advance", item, "assign", actor="li")
    cli.ok("item", "advance", item, "submit", "--field", "measures=已更正",
           "--attach", str(tmp_path / "a.jpg"), "--attach", str(tmp_path / "copy.jpg"),
           actor="zhang")
    cli.ok("item", "advance", item, "reject", "--comment", "照片不清楚", actor="zhao")
    cli.ok("item", "advance", item, "submit", "--attach", str(tmp_path / "copy.jpg"),
           "--attach", str(tmp_path / "other.jpg"), actor="zhang")
    evidence = cli.json("item", "show", item, actor="zhang")["fields"]["evidence"]
    assert [r["name"] for r in evidence] == ["a.jpg", "other.jpg"]
    conn = sqlite3.connect(cli.home / "r.db")
    rows = conn.execute("select name from attachments where item_id = ? order by id",
                        (int(item),)).fetchall()
    conn.close()
    assert [r[0] for r in rows] == ["a.jpg", "other.jpg"]


def test_attach_missing_file_is_a_usage_error(cli: Cli) -> None:
    """`--attach` of a file that does not exist: exit 2 before anything is written."""
    item = str(cli.new("li", "village-a1", "--assignee", "zhang"))
    result = cli("item", "advance", item, "assign", "--attach", "no-such-file.jpg", actor="li")
    assert result.returncode == 2 and "no-such-file.jpg" in result.stderr
    assert cli.json("item", "show", item, actor="li")["state"] == "discovered"
