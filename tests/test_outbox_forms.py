"""A dispatched item notice renders the forms its channel sends, no more (render.Rendered).

Item notices are stored as their template's context and rendered when sent. The log and mail
send the text form; a Markdown robot sends the Markdown; a file or webhook sends both. Each
form is rendered when a channel first reads it, so a channel never pays for, nor fails on, a
form it does not send; a form it does send that no longer renders fails the row for good.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rectify.engine.store import outbox
from rectify.engine.store.db import Engine, open_engine, read, upgrade, write
from rectify.notifications import render as render_module
from rectify.notifications.channels import FileChannel, LogChannel
from rectify.notifications.context import sample_context
from rectify.notifications.dispatch import dispatch
from rectify.notifications.message import Notification
from rectify.notifications.render import render

NOW = datetime(2025, 9, 26, 2, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite outbox with three `overdue` notices queued as context (a text and a
    Markdown template each), as a sweep queues them."""
    engine = open_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    rows = []
    for n in range(1, 4):
        context = sample_context("overdue")
        context["item"] = {**context["item"], "id": n}
        rows.append({"dedupe_key": f"item:{n}:e1:s1:x", "channel": "x", "template": "overdue",
                     "item_id": None, "unit_id": "village-a1",
                     "recipients": {"people": [{"person_id": "zhang", "name": "张三",
                                                "email": None, "mobile": None}]},
                     "subject": None, "body_text": None, "body_markdown": None,
                     "data": context, "templates_dir": None, "status": "pending",
                     "attempts": 0, "next_attempt_at": NOW, "created_at": NOW,
                     "fold_key": None})
    with write(engine) as conn:
        outbox.enqueue(conn, rows)
    yield engine
    engine.dispose()


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each template file was rendered."""
    counted: Counter[str] = Counter()
    real = render_module._render_form

    def counting(env: Any, filename: str, context: Any) -> str:
        counted[filename] += 1
        return real(env, filename, context)

    monkeypatch.setattr(render_module, "_render_form", counting)
    return counted


class MarkdownOnly:
    """A channel that sends the Markdown form alone (as a WeCom robot in markdown mode)."""

    local = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification.markdown)


def test_the_log_renders_the_text_form_only(engine: Engine, renders: Counter[str]) -> None:
    """Three notices to the log channel: three renders of overdue.txt.j2, none of the
    Markdown form (it rendered both for every notice, whatever the channel sent)."""
    report = dispatch(outbox.OutboxTable(engine), {"x": LogChannel("x")}, NOW)
    assert report.sent == 3
    assert renders == Counter({"overdue.txt.j2": 3})


def test_a_markdown_channel_renders_the_markdown_form_only(
        engine: Engine, renders: Counter[str]) -> None:
    """A channel that reads only `markdown` renders overdue.md.j2 alone, and what it sends is
    the Markdown `render` makes."""
    channel = MarkdownOnly()
    assert dispatch(outbox.OutboxTable(engine), {"x": channel}, NOW).sent == 3
    assert renders == Counter({"overdue.md.j2": 3})
    context = sample_context("overdue")
    context["item"] = {**context["item"], "id": 1}
    assert channel.sent[0] == render("overdue", context)[2]


def test_a_file_renders_both_forms_once_each(engine: Engine, renders: Counter[str],
                                             tmp_path: Path) -> None:
    """The file channel writes every form: each rendered once per notice, and the line holds
    exactly what `render` makes of the stored context."""
    out = tmp_path / "out.jsonl"
    assert dispatch(outbox.OutboxTable(engine), {"x": FileChannel("x", path=out)}, NOW).sent == 3
    assert renders == Counter({"overdue.txt.j2": 3, "overdue.md.j2": 3})
    first = json.loads(out.read_text("utf-8").splitlines()[0])
    assert (first["subject"], first["text"], first["markdown"]) == render("overdue", first["data"])


def test_a_broken_form_fails_only_the_channels_that_send_it(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Markdown form stops rendering: the log (text only) still sends every notice; the
    file channel, which sends Markdown too, fails each row for good with the reason."""
    real = render_module._render_form

    def broken_markdown(env: Any, filename: str, context: Any) -> str:
        if filename.endswith(".md.j2"):
            raise render_module.RenderError(f"{filename}:3: 'item' is undefined")
        return real(env, filename, context)

    monkeypatch.setattr(render_module, "_render_form", broken_markdown)
    assert dispatch(outbox.OutboxTable(engine), {"x": LogChannel("x")}, NOW).sent == 3
    with write(engine) as conn:  # the same rows again, now for a file channel
        conn.execute(outbox.OUTBOX.update().values(status="pending", next_attempt_at=NOW))
    report = dispatch(outbox.OutboxTable(engine),
                      {"x": FileChannel("x", path=tmp_path / "out.jsonl")}, NOW)
    assert (report.sent, report.failed, report.retried) == (0, 3, 0)
    with read(engine) as conn:
        errors = [r.last_error for r in conn.execute(outbox.OUTBOX.select())]
    assert all(e.startswith("template 'overdue' does not render: overdue.md.j2:3") for e in errors)
    assert not (tmp_path / "out.jsonl").exists()
