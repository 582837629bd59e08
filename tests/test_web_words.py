"""The pages say the engine's refusals in Chinese: every kind the engine words for a
transition comes out without English, with labels and names instead of ids; a line of an
unknown shape is shown as the engine said it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rectify.engine.core.errors import Refused
from rectify.engine.core.loader import load_workflow_file
from rectify.engine.core.machine import Actor, ItemView, Request, StateGraph
from rectify.web.words import login_words, refusal_words
from rectify.workflows import HERE

ZHANG = Actor("zhang", frozenset({"rectifier"}), "张三")
ZHAO = Actor("zhao", frozenset({"acceptor"}), "赵六")
CASES = [  # item, actor, trigger, what the clerk reads
    (ItemView("rectifying", "v", assignee="zhang"), ZHANG, "submit",
     "提交验收还需要填写：整改措施、佐证材料"),
    (ItemView("accepting", "v", assignee="zhang"), ZHAO, "reject", "验收不通过需要填写意见"),
    (ItemView("rectifying", "v", assignee="zhang", unit_name="张庄村"),
     Actor("li", frozenset({"inspector"}), "李四"), "submit",
     "您不能提交验收：需要在张庄村或上级单位担任整改责任人"),
    (ItemView("rectifying", "v", assignee="zhang"), Actor("sun", frozenset({"rectifier"})),
     "submit", "只有责任人（张三）可以提交验收"),
    (ItemView("accepting", "v", assignee="zhang", cycle_actors={"submit": ("zhao",)}), ZHAO,
     "accept", "您已办理过“提交验收”，按职责分离不能再验收销号"),
    (ItemView("accepting", "v", assignee="zhang"), ZHANG, "submit",
     "事项现在是“待验收”，不能提交验收（可能已有人办理），请刷新页面"),
]


@pytest.mark.parametrize(("item", "actor", "trigger", "said"), CASES)
def test_each_refusal_kind_is_said_in_chinese(item: ItemView, actor: Actor, trigger: str,
                                              said: str) -> None:
    """The engine's real refusal for the case, said again with labels and names."""
    spec = load_workflow_file(HERE / "rectification.yaml")
    with pytest.raises(Refused) as refused:
        StateGraph(spec).fire(item, actor, Request(trigger), datetime.now(UTC))
    labels = {t.trigger: t.label for t in spec.transitions if t.label}
    words = refusal_words(str(refused.value), refused.value.reason, triggers=labels,
                          people={"zhang": "张三"})
    assert words == said


def test_unknown_shapes_are_kept_and_logins_are_said() -> None:
    """A line the pages do not know is shown unchanged; login refusals have Chinese words."""
    assert refusal_words("the item changed underneath; try again", "state") == \
        "the item changed underneath; try again"
    assert login_words("wrong person or password") == "用户名或密码不正确"
    assert login_words("too many failed logins; try again in 8 seconds") == \
        "登录失败次数过多，请 8 秒后再试"
