"""The outbox through the real CLI: settings changes lose nothing, failures are not silent,
and `outbox retry` requeues (issue 17, point 2).

Notices are queued by a real sweep of the bundled rectification workflow, dispatched to a real
file channel named in a real rectify.toml, and read back from that file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .cli_inprocess import Rectify
from .conftest import FIXTURES

START = "2025-11-03T09:00:00+08:00"  # a Monday
OVERDUE = "2025-11-18T09:00:00+08:00"  # the day after the 10-workday deadline
LATE = "2025-11-21T09:00:00+08:00"  # 督办 and 约谈 came due days ago


@pytest.fixture
def cli(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """No rectify.toml in the folder: notices go to the implicit `log` channel. One item at
    张庄村 assigned to 张三, then a sweep past its deadline: 提醒 and 督办 queued."""
    monkeypatch.chdir(tmp_path)
    rectify = Rectify(db_url, capsys, monkeypatch, now=START)
    rectify.ok("init")
    rectify.ok("org", "load", str(FIXTURES / "org.yaml"))
    rectify.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1",
               "--assignee", "zhang", "--field", "description=户籍信息与实际不符", actor="li")
    rectify.ok("item", "advance", "1", "assign", actor="li")
    rectify.ok("sweep", now=OVERDUE)
    return rectify


def _settings(folder: Path, body: str) -> None:
    (folder / "rectify.toml").write_text(body, "utf-8")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _pending(cli: Rectify) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli.ok("outbox", "list", "--status", "pending",
                                        as_json=True).json()
    return rows


def test_adding_settings_reroutes_what_was_queued_for_log(cli: Rectify, tmp_path: Path) -> None:
    """Queued for `log`, then a rectify.toml with only a file channel: dispatch re-routes every
    queued notice to the file channel and sends it, exit 0; the old rows say where they went.
    A second dispatch sends nothing again. (main: every row failed `unknown channel 'log'`,
    exit 0, nothing delivered.)"""
    queued = _pending(cli)
    assert queued and {r["channel"] for r in queued} == {"log"}
    _settings(tmp_path, f'[channels.mail]\ntype = "file"\npath = "{tmp_path / "out.jsonl"}"\n')

    done = cli.ok("outbox", "dispatch", as_json=True).json()
    assert (done["sent"], done["failed"], done["rerouted"]) == (len(queued), 0, len(queued))
    sent = _lines(tmp_path / "out.jsonl")
    assert sorted(n["key"] for n in sent) == sorted(
        r["dedupe_key"].removesuffix(":log") + ":mail" for r in queued)
    old = cli.ok("outbox", "list", "--status", "rerouted", as_json=True).json()
    assert {r["id"] for r in old} == {r["id"] for r in queued}
    assert all("re-routed to mail" in r["last_error"] for r in old)

    again = cli.ok("outbox", "dispatch", as_json=True).json()
    assert (again["sent"], again["rerouted"]) == (0, 0)
    assert len(_lines(tmp_path / "out.jsonl")) == len(queued)


def test_failures_exit_1_and_retry_requeues(cli: Rectify, tmp_path: Path) -> None:
    """Settings whose only channel is a group channel for another town: no channel takes the
    notices, so they fail for good and dispatch exits 1 with one line naming the way out.
    Fixed settings plus `outbox retry` requeue them, and the next dispatch delivers each once.
    (main: exit 0 after failing them, and no `outbox retry`.)"""
    queued = len(_pending(cli))
    _settings(tmp_path, f'[channels.robot]\ntype = "file"\npath = "{tmp_path / "b.jsonl"}"\n'
                        'units = ["town-b"]\n')
    failed = cli("outbox", "dispatch")
    assert failed.code == 1, failed
    assert f"0 sent, 0 to retry, {queued} failed" in failed.out
    assert failed.err.count("\n") == 1 and "outbox retry" in failed.err
    rows = cli.ok("outbox", "list", "--status", "failed", as_json=True).json()
    assert len(rows) == queued and all("no configured channel" in r["last_error"] for r in rows)

    assert cli("outbox", "retry", "999").code == 4  # no failed row 999: nothing requeued
    assert not _pending(cli)
    _settings(tmp_path, f'[channels.mail]\ntype = "file"\npath = "{tmp_path / "m.jsonl"}"\n')
    assert cli.ok("outbox", "retry", as_json=True).json()["requeued"] == [r["id"] for r in
                                                                          reversed(rows)]
    done = cli.ok("outbox", "dispatch", as_json=True).json()
    assert (done["sent"], done["failed"]) == (queued, 0)
    assert len(_lines(tmp_path / "m.jsonl")) == queued
    assert not (tmp_path / "b.jsonl").exists()


def test_steps_applied_late_in_one_sweep_fold_into_one_notice_per_recipients(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven items of 张三's, swept on time for 提醒 (not folded: one notice each); item 7 is
    submitted. Then nobody sweeps for a week: the one late sweep applies 督办 and 约谈 on six
    items and 督办 on item 7 in 待验收 (13 notices). They arrive as one message per set of
    recipients and channel (张三+王五 listing six items; 王五 listing six; item 7's alone, a
    fold of one), and every row is marked sent; a second dispatch sends nothing. (main: 13
    messages, one per item and step.)"""
    monkeypatch.chdir(tmp_path)
    _settings(tmp_path, f'[channels.mail]\ntype = "file"\npath = "{tmp_path / "m.jsonl"}"\n')
    cli = Rectify(db_url, capsys, monkeypatch, now=START)
    monkeypatch.setenv("RECTIFY_FILES", str(tmp_path / "files"))  # evidence on PostgreSQL
    cli.ok("init")
    cli.ok("org", "load", str(FIXTURES / "org.yaml"))
    for n in range(1, 8):
        cli.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1",
               "--assignee", "zhang", "--field", f"description=问题{n}", actor="li")
        cli.ok("item", "advance", str(n), "assign", actor="li")
    on_time = "2025-11-14T00:30:00+08:00"  # 提醒 came due half an hour ago: not late
    cli.ok("sweep", now=on_time)
    cli.ok("item", "advance", "7", "submit", "--field", "measures=已整改", "--attach",
           str(_evidence(tmp_path)), actor="zhang", now=on_time)  # 7 leaves 整改中
    sent = cli.ok("outbox", "dispatch", as_json=True, now=on_time).json()["sent"]
    assert sent == 14 and len(_lines(tmp_path / "m.jsonl")) == 14  # 交办, 提醒: not folded

    cli.ok("sweep", now=LATE)  # 督办 (due 11-17) and 约谈 (11-20), late
    done = cli.ok("outbox", "dispatch", as_json=True, now=LATE).json()
    assert (done["sent"], done["failed"]) == (13, 0)
    late = _lines(tmp_path / "m.jsonl")[14:]
    assert len(late) == 3  # 13 rows, 3 messages
    by_people = {tuple(sorted(r["name"] for r in n["recipients"])): n for n in late}
    alone = by_people.pop(("孙七", "王五", "赵六"))  # item 7's 待验收 督办: a fold of one
    assert alone["template"] == "overdue" and "#7 张庄村 问题7" in alone["subject"]
    assert sorted(by_people) == [("张三", "王五"), ("王五",)]
    for note in by_people.values():
        assert note["template"] == "late_steps" and "6 项" in note["subject"]
        assert all(f"问题{n}" in note["text"] for n in range(1, 7))
        assert "问题7" not in note["text"]
    assert "【约谈】" in by_people[("王五",)]["text"]
    assert "【督办】" in by_people[("张三", "王五")]["text"]
    rows = cli.ok("outbox", "list", "--limit", "100", as_json=True).json()
    assert {r["status"] for r in rows} == {"sent"}
    assert cli.ok("outbox", "dispatch", as_json=True, now=LATE).json()["sent"] == 0
    assert len(_lines(tmp_path / "m.jsonl")) == 17


def _evidence(folder: Path) -> Path:
    photo = folder / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 evidence")
    return photo


def test_dispatch_to_a_file_prints_one_summary_line_not_one_per_notice(
        cli: Rectify, tmp_path: Path) -> None:
    """Run from cron (no terminal), a dispatch that sends every queued notice to a file says
    so in one line on stdout and writes nothing per notice on stderr (it logged an
    `outbox.sent` line for each)."""
    _settings(tmp_path, f'[channels.audit]\ntype = "file"\npath = "{tmp_path / "out.jsonl"}"\n')
    queued = len(_pending(cli))
    result = cli.ok("outbox", "dispatch")
    assert len(_lines(tmp_path / "out.jsonl")) == queued >= 2
    assert result.out.strip().splitlines() == [
        f"outbox: {queued} sent, 0 to retry, 0 failed; {queued} re-routed"]
    assert "outbox.sent" not in result.err


def test_a_dispatch_that_sends_everything_loads_only_what_sending_needs(
        cli: Rectify, tmp_path: Path, db_url: str) -> None:
    """`outbox dispatch` in its own process, every notice going out: it never loads structlog
    (nothing to log; the summary is its output), the Service's use cases (workflow loader,
    calendar, `transitions`), the org's YAML reader, APScheduler, nor on SQLite SQLAlchemy's
    PostgreSQL dialect (which a PostgreSQL database needs): each was a share of a dispatch's
    start-up (bench/RESULTS.md, session 11)."""
    _settings(tmp_path, f'[channels.audit]\ntype = "file"\npath = "{tmp_path / "out.jsonl"}"\n')
    cli.ok("outbox", "dispatch")  # what was queued for `log` goes to the file (re-routed)
    cli.ok("sweep", now=LATE)  # 督办 and 约谈: queued for the file channel itself
    queued, before = len(_pending(cli)), len(_lines(tmp_path / "out.jsonl"))
    heavy = ("structlog", "rectify.engine.app.service", "rectify.engine.core.loader",
             "rectify.engine.core.org", "yaml", "transitions", "chinese_calendar", "apscheduler",
             *(("sqlalchemy.dialects.postgresql",) if db_url.startswith("sqlite") else ()))
    code = ("import sys; from rectify.cli import main\n"
            f"sys.argv = ['rectify', '--db', {db_url!r}, '--now', {LATE!r}, 'outbox', "
            "'dispatch']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
    assert len(_lines(tmp_path / "out.jsonl")) - before == queued >= 1


def test_dispatch_refuses_an_unknown_actor_as_every_command_does(cli: Rectify) -> None:
    """`--as` with a name nobody has is refused (exit 3, the nearest names) before anything
    is sent, though a dispatch builds no Service."""
    queued = len(_pending(cli))
    refused = cli("outbox", "dispatch", actor="zhnag")
    assert refused.code == 3 and "did you mean 'zhang'" in refused.err, refused
    assert len(_pending(cli)) == queued
    assert cli("outbox", "dispatch", actor="zhang").code == 0
