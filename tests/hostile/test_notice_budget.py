"""A notice whose template blows up on one item's value fails that outbox row, fast, and the
others are sent (notifications/render.py's time budget, engine/store/outbox.py's per-row
failure): the dispatcher is not held for minutes by one admin's loop."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from rectify.engine.app.outbox import list_rows
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock
from rectify.engine.store import outbox
from rectify.engine.store.db import read
from rectify.notifications.channels import FileChannel
from rectify.notifications.dispatch import dispatch

from ..cli_inprocess import prepared_service
from ..conftest import START
from ..test_outbox_render import WORKFLOW

LOOP = ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
NUDGE = ("【{{ step.level }}】{{ item.unit_name }}\n"
         "{% if item.fields['问题描述'] == 'bomb' %}" + LOOP + "{% endif %}"
         "{{ item.fields['问题描述'] }}，请整改。\n")


def test_one_exploding_notice_fails_alone_and_fast(tmp_path: Path) -> None:
    """Three items reach their deadline; the one whose value sends the template into a
    hundred-million-step loop fails within seconds, the other two are sent."""
    clock = FixedClock(START)
    service = prepared_service(f"sqlite:///{tmp_path / 'r.db'}", clock, tmp_path / "files",
                               workflows=())
    folder = tmp_path / "wf"
    (folder / "my-templates").mkdir(parents=True)
    (folder / "my-templates" / "nudge.txt.j2").write_text(NUDGE, "utf-8")
    (folder / "nudges.yaml").write_text(WORKFLOW, "utf-8")
    service.load_workflow(folder / "nudges.yaml")
    for value in ("问题一", "bomb", "问题二"):
        service.new_item("wang", "nudges", "village-a1", assignee="zhang",
                         values={"description": value})
    clock.advance(timedelta(days=5))
    sweep(service, late_after=timedelta(days=30))  # on time: not folded, each row rendered
    start = time.monotonic()
    report = dispatch(outbox.OutboxTable(service.engine),
                      {"log": FileChannel("log", path=tmp_path / "sent.jsonl")}, clock.now())
    assert time.monotonic() - start < 5
    assert report.sent == 2
    with read(service.engine) as conn:
        failed = list_rows(conn, "failed")
    assert len(failed) == 1 and "stopped after 1 s" in failed[0]["last_error"]
