"""`rectify workflow graph` as people read it (issue 17, point 13): a state's deadline on its
own line (a real line break in DOT, never a literal backslash-n), durations in Chinese
(5个工作日, 3天, 2小时), and long `when:` guards shortened on the arrows."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rectify.engine.core.graph import WHEN_ON_EDGE

from .cli_inprocess import Rectify

LONG_GUARD = """\
workflow: hearing
title: 听证
fields:
  attendees: {type: number, label: 实到人数}
  members_total: {type: number, label: 应到人数}
  votes_for: {type: number, label: 赞成票数}
roles: {leader: 分管领导}
initial: open
states:
  open: {label: 待听证, deadline: 5 workdays}
  notice: {label: 公示, deadline: 3 days}
  urgent: {label: 加急, deadline: 2 hours}
  done: {label: 已通过, final: true}
transitions:
  - {trigger: pass, label: 通过, source: open, dest: notice, roles: [leader],
     when: "0 < attendees <= members_total and attendees * 3 >= members_total * 2
            and votes_for * 2 > attendees"}
  - {trigger: hurry, source: notice, dest: urgent, roles: [leader]}
  - {trigger: close, source: urgent, dest: done, roles: [leader]}
"""


@pytest.fixture
def graph(tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> Rectify:
    """`workflow graph FILE` needs no database: the command reads the file."""
    (tmp_path / "hearing.yaml").write_text(LONG_GUARD, "utf-8")
    monkeypatch.chdir(tmp_path)
    return Rectify(f"sqlite:///{tmp_path / 'absent.db'}", capsys, monkeypatch)


def test_dot_breaks_lines_and_reads_durations_in_chinese(graph: Rectify) -> None:
    """Each state's box is its label, a line break (DOT's \\n, one backslash) and its deadline
    in Chinese; no label holds an escaped backslash before n."""
    text = graph.ok("workflow", "graph", "hearing.yaml", "--format", "dot").out
    assert '"open" [label="待听证\\n期限 5个工作日"];' in text
    assert '"notice" [label="公示\\n期限 3天"];' in text
    assert '"urgent" [label="加急\\n期限 2小时"];' in text
    assert "\\\\n" not in text and "workdays" not in text


def test_long_guards_are_shortened_on_edges(graph: Rectify) -> None:
    """A guard longer than WHEN_ON_EDGE characters ends in … on its arrow, in DOT and Mermaid."""
    dot = graph.ok("workflow", "graph", "hearing.yaml", "--format", "dot").out
    label = re.search(r'"open" -> "notice" \[label="([^"]*)"\]', dot)
    assert label is not None and label.group(1).endswith("…]")
    assert len(label.group(1)) <= len("通过 []") + WHEN_ON_EDGE
    mermaid = graph.ok("workflow", "graph", "hearing.yaml").out
    edge = next(line for line in mermaid.splitlines() if "open --> notice" in line)
    assert edge.endswith("…]") and "votes_for * 2" not in edge
    assert 'state "待听证<br/>期限 5个工作日" as open' in mermaid


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_draws_the_deadline_as_its_own_line(graph: Rectify, tmp_path: Path) -> None:
    """Rendered by Graphviz, a state's label and its deadline are two text lines; no text in
    the picture contains a backslash."""
    graph.ok("workflow", "graph", "hearing.yaml", "--format", "svg", "-o", "g.svg")
    texts = [t.text or "" for t in ET.parse(tmp_path / "g.svg").iter()
             if t.tag.endswith("text")]
    assert "待听证" in texts and "期限 5个工作日" in texts
    assert not [t for t in texts if "\\" in t]
