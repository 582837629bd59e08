"""A guard refusal names the fields its condition reads but never echoes a private one's value
(engine/core/machine.py `_values_named`): the refusal goes to whoever tried the transition."""

from __future__ import annotations

from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Refused

from ..cli_inprocess import prepared_service
from ..conftest import START

WORKFLOW = """\
workflow: idcheck
title: 身份核验
fields:
  idno: {type: text, label: 身份证号, private: true}
  votes: {type: number, label: 票数}
roles: {inspector: 督查人员}
initial: open
states:
  open: {label: 待办}
  done: {label: 完成, final: true}
transitions:
  - {trigger: finish, source: open, dest: done, roles: [inspector],
     when: "idno == '000' and votes >= 1"}
"""


def test_guard_refusal_masks_private_values(tmp_path: Path) -> None:
    """The refusal shows 票数's value but only `(private)` for 身份证号."""
    service = prepared_service(f"sqlite:///{tmp_path / 'r.db'}", FixedClock(START),
                               tmp_path / "files", workflows=())
    (tmp_path / "idcheck.yaml").write_text(WORKFLOW, "utf-8")
    service.load_workflow(tmp_path / "idcheck.yaml")
    item = service.new_item("li", "idcheck", "town-a",
                            values={"idno": "110101199001011234", "votes": 0})
    with pytest.raises(Refused) as info:
        service.advance(item, "li", "finish")
    message = str(info.value)
    assert "110101199001011234" not in message
    assert "身份证号 (idno) = (private)" in message and "票数 (votes) = 0" in message
