"""Contract section 6 through the console script's entry (in-process): exit codes and the one
stderr line of field and deadline refusals, admin commands, `audit verify` with one line per
broken item, `audit anchor -o` and `verify --anchor`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .conftest import FIXTURES
from .test_cli_items import Cli, refused

HELPCHECK = FIXTURES / "helpcheck.yaml"


@dataclass
class AnyCli(Cli):
    """The console script against the test's database: a SQLite file or a PostgreSQL schema."""

    db_url: str = ""

    @property
    def url(self) -> str:
        return self.db_url

    def sql(self, statement: str, **params: object) -> None:
        engine = create_engine(self.db_url)
        with engine.begin() as conn:
            conn.execute(text(statement), params)
        engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> AnyCli:
    cli = AnyCli(tmp_path, db_url)
    cli.ok("init")
    cli.ok("workflow", "load", str(HELPCHECK))
    org = tmp_path / "org.yaml"
    org.write_text((FIXTURES / "org.yaml").read_text("utf-8").replace(
        "{id: qian, name: 钱八,", "{id: qian, name: 钱八, admin: true,"), "utf-8")
    cli.ok("org", "load", str(org))
    return cli


def _fixing(cli: AnyCli) -> str:
    item = cli.ok("item", "new", "--workflow", "helpcheck", "--unit", "village-a1",
                  "--assignee", "zhang", "--field", "description=手册未更新", actor="li").strip()
    cli.ok("item", "advance", item, "start", actor="li")
    return item


def test_field_and_deadline_refusals_exit_3_with_one_line(cli: AnyCli) -> None:
    """The accountable cannot write the reviewer's field nor move their own deadline."""
    item = _fixing(cli)
    refused(cli("item", "advance", item, "complete", "--field", "fix_note=好",
                "--field", "findings=合格", actor="zhang"), 3, "批改意见 (findings)")
    refused(cli("item", "assign", item, "zhang", "--due", "2027-12-31", actor="zhang"), 3,
            "may not assign")
    refused(cli("item", "assign", item, "zhang", "--due", "2027-12-31", actor="li"), 3,
            "--comment")
    cli.ok("item", "assign", item, "sun", "--due", "2025-12-31", "--comment", "换人",
           actor="li")
    history = cli.json("item", "show", item, actor="li")["history"]
    assert history[-1]["via"] == "cli" and history[-1]["comment"] == "换人"


def test_admin_commands_refuse_non_admins(cli: AnyCli, tmp_path: Path) -> None:
    """Once an org with an admin is loaded, org/workflow/calendar loads need that admin; the
    admin log lists the loads (who and file digest). Without --as the refusal says how to
    say who you are (before: "nobody (no --as) may not load workflows")."""
    refused(cli("org", "load", str(FIXTURES / "org.yaml"), actor="zhang"), 3,
            "张三 may not load the org file")
    refused(cli("workflow", "load", str(HELPCHECK)), 3,
            "only an admin of the org file (admin: true) may load workflows: say who you are "
            "with --as PERSON")
    log = cli.json("audit", "log")
    assert [r["action"] for r in log] == ["workflow load", "org load"]
    assert log[0]["os_user"]


def test_the_admin_log_table_tells_local_times(cli: AnyCli) -> None:
    """`audit log` shows when each load happened in the office's time (Asia/Shanghai, as
    every other table) — before, the table gave the UTC clock without saying so: a load at
    09:00 in the office read 01:00. --json keeps its ISO time with offset."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    at = datetime.fromisoformat(cli.json("audit", "log")[0]["at"])
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    utc = at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M")
    table = cli.ok("audit", "log")
    assert local in table and utc not in table, table


def test_a_non_admin_migrate_is_refused_before_its_plan(cli: AnyCli, tmp_path: Path) -> None:
    """`workflow migrate` by someone who is not an admin: exit 3 and the one line, nothing on
    stdout — before, the plan was printed first, and under --json stdout was half a JSON
    document; a dry run (which changes nothing) still shows the plan to anyone."""
    _fixing(cli)
    v2 = tmp_path / "helpcheck.yaml"
    v2.write_text(HELPCHECK.read_text("utf-8").replace("10 workdays", "12 workdays"), "utf-8")
    cli.ok("workflow", "load", str(v2), actor="qian")
    for flags in ((), ("--json",)):
        result = cli(*flags, "workflow", "migrate", "helpcheck", "--to", "2", actor="li")
        refused(result, 3, "only an admin")
        assert result.stdout == "", result.stdout
    dry = cli.json("workflow", "migrate", "helpcheck", "--to", "2", "--dry-run", actor="li")
    assert dry["dry_run"] is True and dry["summary"]["would_migrate"] == 1
    assert cli.json("audit", "log")[0]["action"] == "workflow load"  # nothing migrated


def test_verify_names_each_broken_item_and_the_anchor_pins_the_past(cli: AnyCli,
                                                                   tmp_path: Path) -> None:
    """Exit 7 and one stderr line per broken item; an anchor file catches a deleted item."""
    first, second, third = _fixing(cli), _fixing(cli), _fixing(cli)
    anchor = tmp_path / "anchor.json"
    digest = cli.ok("audit", "anchor", "-o", str(anchor)).strip()
    assert json.loads(anchor.read_text("utf-8"))["digest"] == digest and len(digest) == 64
    assert "anchor" in cli.ok("audit", "verify", "--anchor", str(anchor))
    cli.sql("update items set state = 'approved' where id = :i", i=int(first))
    cli.sql("delete from history where item_id = :i and seq = 2", i=int(second))
    for table in ("escalation_steps", "outbox", "history"):
        cli.sql(f"delete from {table} where item_id = :i", i=int(third))
    cli.sql("delete from items where id = :i", i=int(third))
    result = cli("audit", "verify")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 7 and len(lines) == 2, result.stderr
    assert lines[0].startswith(f"audit FAILED: item {first}: ")
    assert lines[1].startswith(f"audit FAILED: item {second}: history row 2")
    result = cli("audit", "verify", "--anchor", str(anchor))
    assert result.returncode == 7 and len(result.stderr.strip().splitlines()) == 3
    assert f"item {third}: history row 2, pinned by the anchor" in result.stderr


def test_extension_transfer_urge_and_sample_through_the_cli(cli: AnyCli) -> None:
    """The section 6 item commands: their refusals exit 3 with one line; what they do shows in
    `item show` (the waiting request, the history rows with via)."""
    item = _fixing(cli)
    refused(cli("item", "extend", item, "--to", "2025-10-24", "--reason", "忙", actor="li"), 3,
            "only the assignee (张三) may ask")
    cli.ok("item", "extend", item, "--to", "2025-10-24", "--reason", "农忙", actor="zhang")
    card = cli.ok("item", "show", item, actor="wang")
    assert "extension asked by 张三: to 2025-10-24" in card
    assert cli.json("item", "show", item, actor="wang")["extension"]["reason"] == "农忙"
    refused(cli("item", "extension", item, "grant", actor="zhang"), 3, "may not decide")
    assert "extension granted" in cli.ok("item", "extension", item, "grant", actor="wang")
    refused(cli("item", "extension", item, "refuse", actor="wang"), 3, "granted by 王五")
    refused(cli("item", "urge", item, "--comment", "快", actor="zhang"), 3, "above 张庄村")
    cli.ok("item", "urge", item, "--comment", "请本周完成", actor="wang")
    refused(cli("item", "transfer", item, "--unit", "village-b1", "--comment", "属地",
                actor="li"), 3, "may not transfer")
    cli.ok("item", "transfer", item, "--unit", "village-b1", "--assignee", "zhou",
           "--comment", "属地管理", actor="qian")
    history = cli.json("item", "show", item, actor="qian")["history"]
    assert [h["trigger"] for h in history[-4:]] == [
        "extend", "extension:granted", "urge", "transfer"]
    assert {h["via"] for h in history} == {"cli"}
    drawn = cli.json("item", "sample", "--workflow", "helpcheck", "--size", "1",
                     "--seed", "W40", actor="qian")
    assert drawn["items"] == [int(item)] and drawn["candidates"] == 1
    assert cli("audit", "verify").returncode == 0
