"""No Python in front of users, through the real command line (issue 17, points 9-11, 13):
field values refused in the user's words and dates in the forms a ledger accepts; a guard over
an empty field false with its reason; database URLs, missing databases and unwritable outputs
as one line with the contract's exit code; `--version` and `python -m rectify`; graphs that
draw line breaks and Chinese durations."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock, parse_instant

from .cli_inprocess import Rectify, Result, prepared_service

NOW = "2025-09-26T10:00:00+08:00"
RECTIFY = shutil.which("rectify", path=str(Path(sys.executable).parent)) or "rectify"

CHECK_WORKFLOW = """\
workflow: spot_check
title: 抽查
fields:
  note: {type: text, label: 情况}
  score: {type: number, label: 抽查评分}
  checked_on: {type: date, label: 抽查日期}
  passed: {type: bool, label: 是否合格}
roles: {inspector: 督查人员}
initial: open
states:
  open: {label: 待抽查, deadline: 5 workdays}
  done: {label: 已完成, final: true}
transitions:
  - {trigger: finish, label: 完成抽查, source: open, dest: done, roles: [inspector],
     when: "score >= 60 and checked_on"}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the fixture org, the rectification workflow and spot_check."""
    home = tmp_path_factory.mktemp("inputs")
    service = prepared_service(f"sqlite:///{home / 'r.db'}", FixedClock(parse_instant(NOW)),
                               home / "files")
    (home / "check.yaml").write_text(CHECK_WORKFLOW, "utf-8")
    service.load_workflow(home / "check.yaml")
    return home / "r.db"


@pytest.fixture
def rectify(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    for part in base.parent.glob("r.db*"):
        shutil.copy2(part, tmp_path / part.name)
    return Rectify(f"sqlite:///{tmp_path / 'r.db'}", capsys, monkeypatch, now=NOW)


def one_line(result: Result, code: int, *fragments: str) -> str:
    """Exit `code`, one line on stderr with every fragment, no traceback, no Python words."""
    lines = result.err.strip().splitlines()
    assert result.code == code, result.err
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def check_item(rectify: Rectify, *fields: str) -> int:
    args = [a for f in fields for a in ("--field", f)]
    return int(rectify.ok("item", "new", "--workflow", "spot_check", "--unit", "village-a1",
                          *args, actor="li").out)


@pytest.mark.parametrize(("value", "fragments"), [
    ("score=abc", ("抽查评分 (score) must be a number", "'abc'")),
    ("score=nan", ("抽查评分 (score) must be a number",)),
    ("checked_on=2025-13-45", ("抽查日期 (checked_on) must be a date",)),
    ("checked_on=昨天", ("抽查日期 (checked_on) must be a date", "2025年10月2日")),
    ("passed=maybe", ("是否合格 (passed) must be yes or no",)),
])
def test_bad_field_values_are_refused_in_the_users_words(
        rectify: Rectify, value: str, fragments: tuple[str, ...]) -> None:
    """`--field score=abc` says "抽查评分 (score) must be a number", not Python's "could not
    convert string to float"; exit 3; no item is created."""
    line = one_line(rectify("item", "new", "--workflow", "spot_check", "--unit", "village-a1",
                            "--field", value, actor="li"), 3, *fragments)
    assert "convert" not in line and "isoformat" not in line
    assert rectify.ok("item", "list", as_json=True).json() == []


@pytest.mark.parametrize("typed", ["2025/10/02", "2025年10月2日", "2025.10.2", "20251002",
                                   "2025-10-02"])
def test_dates_take_the_forms_a_ledger_takes(rectify: Rectify, typed: str) -> None:
    """A date field takes what the ledger importer takes (its own parser): 2025/10/02,
    2025年10月2日 ... are all stored as 2025-10-02."""
    item = check_item(rectify, f"checked_on={typed}")
    shown = rectify.ok("item", "show", str(item), actor="li", as_json=True).json()
    assert shown["fields"]["checked_on"] == "2025-10-02"


@pytest.mark.parametrize("typed", ["2025/10/31", "2025年10月31日", "2025.10.31", "20251031",
                                   "2025-10-31"])
def test_a_deadline_takes_the_forms_a_ledger_takes(rectify: Rectify, typed: str) -> None:
    """`--due` (item new, item assign) takes a day as a date field does, and a day means its
    end in the workflow's timezone: 20251031 too (main: refused 2025年10月31日, and took
    20251031 as the midnight that begins the day)."""
    item = int(rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                          "--field", "description=x", "--due", typed, actor="li").out)
    assert rectify.ok("item", "show", str(item), actor="li", as_json=True).json()["due_at"] \
        == "2025-10-31T23:59:59+08:00"
    moved = rectify.ok("item", "assign", str(item), "zhang", "--due", typed.replace("31", "30"),
                       "--comment", "提前", actor="li", as_json=True).json()
    assert moved["due_at"] == "2025-10-30T23:59:59+08:00"


@pytest.mark.parametrize("typed", ["abc", "2025-13-45", "2025-10-01T25:00"])
def test_a_time_that_is_no_time_says_how_to_write_one(rectify: Rectify, typed: str) -> None:
    """`--now` and a `--due` with a time of day that is no time say how to write one, in one
    line, exit 2, without Python's words ("Invalid isoformat string", "month must be in
    1..12"); in Chinese too."""
    rectify.now = typed
    said = one_line(rectify("item", "list"), 2, f"--now {typed!r}",
                    "write it as 2025-09-26T10:00:00+08:00")
    assert "isoformat" not in said and "must be in" not in said
    zh = rectify("--lang", "zh", "item", "list")
    assert zh.code == 2 and "isoformat" not in zh.err and "2025-09-26T10:00:00+08:00" in zh.err
    rectify.now = NOW
    item = int(rectify.ok("item", "new", "--workflow", "rectification", "--unit", "张庄村",
                          "--field", "description=x", actor="li").out)
    if ":" in typed:
        due = one_line(rectify("item", "assign", str(item), "zhang", "--due", typed,
                               "--comment", "改期", actor="li"), 2, f"--due {typed!r}")
        assert "isoformat" not in due and "must be in" not in due


def test_a_guard_over_an_empty_field_is_false_with_its_reason(rectify: Rectify) -> None:
    """`when: score >= 60` with no score yet: refused (exit 3) because 抽查评分 is empty, not
    "'>=' not supported between 'NoneType' and 'int'"; with the values it fires."""
    item = check_item(rectify, "checked_on=2025年9月26日")
    line = one_line(rectify("item", "advance", str(item), "finish", actor="li"), 3,
                    "is not met", "抽查评分 (score) is empty")
    assert "NoneType" not in line and "not supported" not in line
    rectify.ok("item", "advance", str(item), "finish", "--field", "score=80", actor="li")


def test_database_urls_and_missing_databases_say_what_is_wrong(
        rectify: Rectify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--db nonsense://` and a malformed URL: exit 2 naming what rectify takes; a SQLite file
    that is not there: one line saying so, and no empty database left behind by a read."""
    for url in ("nonsense://", "not a url"):
        rectify.url = url
        one_line(rectify("item", "list"), 2, "sqlite:///", "postgresql://")
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///rectify.db", f"sqlite:///{tmp_path / 'none' / 'r.db'}"):
        rectify.url = url
        one_line(rectify("item", "list"), 1, "rectify init")
    rectify.url = ""  # the default, rectify.db here
    one_line(rectify("item", "show", "1"), 1, "no database", "rectify init")
    one_line(rectify("workflow", "list"), 1, "no database")
    assert not (tmp_path / "rectify.db").exists()
    assert not (tmp_path / "none").exists()


@pytest.mark.postgres
def test_postgres_spellings_are_accepted_and_a_missing_database_is_named(
        pg_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`postgres://…` and `postgresql://…` (no driver) open PostgreSQL with psycopg 3, as
    `postgresql+psycopg://` does; a database that does not exist is named as such (not "run
    init")."""
    for scheme in ("postgres://", "postgresql://"):
        url = re.sub(r"^postgresql\+psycopg://", scheme, pg_url)
        run = Rectify(url, capsys, monkeypatch, now=NOW)
        run.ok("init")
        assert run.ok("item", "list", as_json=True).json() == []
    missing = re.sub(r"/(\w+)(\?|$)", r"/rectify_no_such_db\2", pg_url, count=1)
    missing = re.sub(r"^postgresql\+psycopg://", "postgres://", missing)
    line = one_line(Rectify(missing, capsys, monkeypatch)("item", "list"), 1,
                    "'rectify_no_such_db' does not exist")
    assert "rectify init" in line and "no rectify tables" not in line


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    return env


def test_an_unwritable_output_is_one_line_without_a_traceback(base: Path, tmp_path: Path
                                                              ) -> None:
    """`ledger export -o /no/such/dir/x.xlsx` (the console script, so what Python prints when
    it collects a half-written sheet would show): exit 2, one line, nothing after it."""
    for part in base.parent.glob("r.db*"):
        shutil.copy2(part, tmp_path / part.name)
    done = subprocess.run([RECTIFY, "--db", f"sqlite:///{tmp_path / 'r.db'}", "ledger", "export",
                           "-o", str(tmp_path / "no" / "such" / "x.xlsx")], capture_output=True,
                          text=True, timeout=120, env=_env(), cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"rectify: cannot write {tmp_path / 'no' / 'such' / 'x.xlsx'}: No such file or directory"]


def test_version_and_python_dash_m(tmp_path: Path) -> None:
    """`rectify --version` prints the installed version; `python -m rectify` is the same
    command line (here: its --version and a refusal's exit code)."""
    from importlib.metadata import version

    script = subprocess.run([RECTIFY, "--version"], capture_output=True, text=True, timeout=60,
                            env=_env(), check=False)
    assert (script.returncode, script.stdout.strip()) == (0, f"rectify {version('rectify')}")
    module = subprocess.run([sys.executable, "-m", "rectify", "--version"], capture_output=True,
                            text=True, timeout=60, env=_env(), check=False)
    assert (module.returncode, module.stdout) == (0, script.stdout)
    unknown = subprocess.run([sys.executable, "-m", "rectify", "workflow", "show", "nosuch"],
                             capture_output=True, text=True, timeout=60, env=_env(),
                             cwd=tmp_path, check=False)
    assert unknown.returncode == 4 and "workflow 'nosuch' not found" in unknown.stderr


def test_a_missing_actor_is_a_usage_error_with_a_hint(rectify: Rectify) -> None:
    """A command that needs someone acting, without --as: exit 2 and how to say who."""
    item = check_item(rectify)
    one_line(rectify("item", "advance", str(item), "finish"), 2, "--as", "RECTIFY_USER")


@pytest.mark.parametrize("given", ["abc", "0", "-1", "99999999999999999999999", "1.5"])
def test_an_item_given_by_something_else_than_its_number_is_a_usage_error(
        rectify: Rectify, given: str) -> None:
    """`item show abc` (and every command taking an item: advance, extend, print notice)
    says in one line that an item is given by its number, exit 2, in English and Chinese —
    before, click's "Invalid value for 'ITEM_ID': 'abc' is not a valid integer range"."""
    for args in (("item", "show", "--", given), ("item", "extend", "--", given, "--to",
                 "2025-10-10", "--reason", "r"), ("print", "notice", "--", given)):
        line = one_line(rectify(*args, actor="li"), 2, "is not an item number",
                        "an item is given by its number, such as 12")
        assert "integer" not in line and "ITEM_ID" not in line
    one_line(rectify("--lang", "zh", "item", "show", "--", given), 2, "不是事项编号",
             "事项用编号指定")


def test_an_item_number_in_full_width_digits_is_read() -> None:
    """１２, as a Chinese input method may type it, is item 12."""
    from rectify.commands.support import ITEM_ID

    assert (ITEM_ID.convert("１２", None, None), ITEM_ID.convert(" 7 ", None, None)) == (12, 7)


def test_an_unreadable_input_file_is_named_in_the_users_words(rectify: Rectify,
                                                              tmp_path: Path) -> None:
    """`workflow validate` of a missing file, a folder, or a file that is not UTF-8 text says
    so at FILE:1:1 (exit 6) in words a clerk reads, in English and Chinese — before, it showed
    Python's "[Errno 2] No such file or directory" and "'utf-8' codec can't decode"."""
    binary = tmp_path / "org.yaml"
    binary.write_bytes("units: 某县".encode("gbk"))
    cases = [(tmp_path / "nothere.yaml", "no such file or folder", "文件或文件夹不存在"),
             (tmp_path, "is a folder", "是文件夹"),
             (binary, "not UTF-8 text", "UTF-8")]
    for path, english, chinese in cases:
        line = one_line(rectify("workflow", "validate", str(path)), 6, f"{path}:1:1:", english)
        assert "Errno" not in line and "codec" not in line, line
        one_line(rectify("--lang", "zh", "workflow", "validate", str(path)), 6, chinese)
    one_line(rectify("org", "load", str(binary)), 6, f"{binary}:1:1:", "not UTF-8 text")
