"""Item notices are stored as a context and rendered when sent (migration 0002).

The sweep and advances queue the context; `outbox list` and the dispatcher render it with the
workflow's own templates. A template that stops rendering fails its rows with the reason and
does not stop the others. A database from before 0002 upgrades with its queued rows intact.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from rectify.engine.app.outbox import list_rows
from rectify.engine.app.service import Service
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import outbox
from rectify.engine.store.db import open_engine, read, upgrade, write
from rectify.notifications import render as render_module
from rectify.notifications.channels import FileChannel
from rectify.notifications.dispatch import dispatch
from rectify.notifications.message import Notification
from rectify.notifications.notices import outbox_row
from rectify.notifications.render import render
from sqlalchemy import select, text

from .conftest import FIXTURES, START

WORKFLOW = """
workflow: nudges
title: 模板测试
roles: {rectifier: 整改责任人}
initial: rectifying
templates: my-templates
fields:
  description: {type: text, label: 问题描述}
states:
  rectifying:
    label: 整改中
    deadline: 1 workdays
    escalate:
      - {at: 0, level: 督办, notify: [assignee], template: nudge}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: rectifying, dest: done, roles: [rectifier]}
"""
NUDGE = ("【{{ step.level }}】{{ item.unit_name }}\n"
         "{{ item.fields['问题描述'] }}，请{{ item.assignee_name }}整改。\n")


def nudges(db_url: str, tmp_path: Path, clock: FixedClock, n: int) -> tuple[Service, Path]:
    folder = tmp_path / "wf"
    (folder / "my-templates").mkdir(parents=True)
    (folder / "my-templates" / "nudge.txt.j2").write_text(NUDGE, "utf-8")
    (folder / "nudges.yaml").write_text(WORKFLOW, "utf-8")
    engine = open_engine(db_url)
    upgrade(engine)
    service = Service(engine, clock, files_dir=tmp_path / "files")
    service.load_org(FIXTURES / "org.yaml")
    service.load_workflow(folder / "nudges.yaml")
    for i in range(n):
        service.new_item("wang", "nudges", "village-a1", assignee="zhang",
                         values={"description": f"问题{i}"})
    return service, folder / "my-templates"


def test_sweep_queues_context_and_dispatch_sends_it_rendered(db_url: str, tmp_path: Path,
                                                             clock: FixedClock) -> None:
    """The sweep queues notices as context only; dispatch renders them with the
    workflow's templates, as the template would render them directly."""
    service, _ = nudges(db_url, tmp_path, clock, 3)
    clock.advance(timedelta(days=5))
    assert len(sweep(service, late_after=timedelta(days=30)).escalations) == 3  # not folded
    with read(service.engine) as conn:
        stored = conn.execute(select(outbox.OUTBOX).order_by(outbox.OUTBOX.c.id)).all()
        listed = list_rows(conn, "pending")
    assert [r.subject for r in stored] == [None, None, None]  # not rendered in the sweep
    assert stored[0].data["item"]["fields"] == {"问题描述": "问题0"}
    assert sorted(r["subject"] for r in listed) == ["【督办】张庄村"] * 3

    log = tmp_path / "sent.jsonl"
    report = dispatch(outbox.OutboxTable(service.engine), {"log": FileChannel("log", path=log)},
                      clock.now())
    assert report.sent == 3
    sent = [Notification.from_dict(json.loads(line))
            for line in log.read_text("utf-8").splitlines()]
    first = next(n for n in sent if n.data["item"]["fields"]["问题描述"] == "问题0")
    assert (first.subject, first.text) == ("【督办】张庄村", "问题0，请张三整改。")
    assert (first.subject, first.text, first.markdown) == render(
        "nudge", stored[0].data, extra_dir=stored[0].templates_dir)


def test_a_template_broken_after_queueing_fails_its_rows_with_the_reason(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    """A template broken after its notices were queued fails those rows with the
    reason, while a notice rendered when queued is still sent."""
    service, templates = nudges(db_url, tmp_path, clock, 2)
    clock.advance(timedelta(days=5))
    sweep(service, late_after=timedelta(days=30))  # on time: each row rendered alone
    with write(service.engine) as conn:  # a digest, rendered when queued, is unaffected
        outbox.enqueue(conn, [outbox_row(Notification(
            key="digest:x", template="daily_digest", subject="日清日结", text="t", markdown="m"),
            "log", clock.now())])
    (templates / "nudge.txt.j2").write_text("{{ item.no_such_thing.deeper }}\n", "utf-8")
    render_module._environment.cache_clear()  # as a dispatcher started after the edit would

    log = tmp_path / "sent.jsonl"
    report = dispatch(outbox.OutboxTable(service.engine), {"log": FileChannel("log", path=log)},
                      clock.now())
    assert report.sent == 1
    with read(service.engine) as conn:
        failed = list_rows(conn, "failed")
    assert len(failed) == 2
    assert all("template 'nudge' does not render" in r["last_error"] for r in failed)
    assert all("does not render" in r["subject"] for r in failed)
    assert "日清日结" in log.read_text("utf-8")


def test_upgrade_from_0001_keeps_queued_rows(tmp_path: Path) -> None:
    """A rendered row queued before 0002 is still there after `rectify init` and sent as it was."""
    from alembic import command
    from rectify.engine.store import db

    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with write(engine) as conn:
        command.upgrade(db._alembic_config(conn), "0001")
    with write(engine) as conn:
        conn.execute(text(
            "INSERT INTO outbox (dedupe_key, channel, template, item_id, unit_id, recipients, "
            "subject, body_text, body_markdown, data, status, attempts, next_attempt_at, "
            "created_at) VALUES ('k:log', 'log', 'reminder', NULL, NULL, '{\"people\": []}', "
            "'旧通知', '正文', '### 旧通知', '{}', 'pending', 0, '2025-09-26 00:00:00', "
            "'2025-09-26 00:00:00')"))
    upgrade(engine)
    db.check_current(engine)
    log = tmp_path / "sent.jsonl"
    report = dispatch(outbox.OutboxTable(engine), {"log": FileChannel("log", path=log)},
                      START + timedelta(days=1))
    assert report.sent == 1
    assert '"subject": "旧通知"' in log.read_text("utf-8")
