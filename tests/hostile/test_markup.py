"""Markup in stored text: a field value never becomes a link or formatting in a robot's Markdown
(notifications/render.py), and `item show` / `item list` print no terminal control sequence a
comment or field carried (commands/support.py `printable`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rectify.commands.support import printable, table
from rectify.engine.core.clock import FixedClock
from rectify.notifications.render import render, sample_context

from ..cli_inprocess import Rectify, prepared_service
from ..conftest import START

LINK = "[点我](javascript:alert(1))"
HOSTILE = "正常文字\x1b]0;pwned\x07\x1b[2J\rFAKE HISTORY LINE\x9b31m\u202eevil"


def test_field_values_are_escaped_in_robot_markdown() -> None:
    """A field holding a Markdown link goes out as the text typed, not as a clickable link;
    the template's own bold marks stay."""
    context = sample_context("reminder", fields={"问题描述": LINK})
    _, text, markdown = render("reminder", context)
    assert LINK in text  # mail and plain text keep the value as typed
    assert "](javascript" not in markdown and r"\[点我\]\(javascript:alert\(1\)\)" in markdown
    assert "**" in markdown


def test_derived_markdown_escapes_the_text_form(tmp_path: Path) -> None:
    """A workflow's own text-only template: its Markdown is the text, escaped."""
    (tmp_path / "mine.txt.j2").write_text("主题 {{ v }}\n正文 {{ v }}\n", "utf-8")
    _, _, markdown = render("mine", {"v": LINK}, extra_dir=tmp_path)
    assert "](javascript" not in markdown


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "files").engine.dispose()
    return Rectify(url, capsys, monkeypatch, now="2025-09-26T10:00+08:00")


def test_item_show_and_list_strip_terminal_controls(cli: Rectify) -> None:
    """An OSC title sequence, a screen clear, `\\r` and a bidi override stored in a field and a
    comment reach neither `item show` nor `item list`; the words themselves remain."""
    item = cli.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1",
                  "--field", f"description={HOSTILE}", actor="li").out.strip()
    cli.ok("item", "advance", item, "assign", "--comment", HOSTILE, "--field", "measures=x",
           actor="wang")
    for args in (("item", "show", item), ("item", "list")):
        out = cli.ok(*args, actor="wang").out
        assert not any(c in out for c in "\x1b\x07\r\x9b\u202e"), repr(out)
        assert "FAKE HISTORY LINE" in out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(), min_size=1, max_size=3))
def test_printable_leaves_no_control_character(cells: list[str]) -> None:
    """Whatever text a cell holds, the table line printed has no control character and no
    line break of its own (Hypothesis over arbitrary Unicode)."""
    out = table([f"h{i}" for i in range(len(cells))], [cells])
    assert len(out.split("\n")) == 3
    assert all(ch == "\n" or (ch >= " " and not "\x7f" <= ch <= "\x9f") for ch in out)
    assert all(printable(c) == printable(printable(c)) for c in cells)
