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

from .conftest import FIXTURES

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


HELPCHECK_CASES = [  # contract section 6 refusals on a workflow with `sets` and `editable_by`
    (ItemView("fixing", "v", assignee="zhang"), ZHANG, "complete", {"findings": "好"},
     "整改完成不能填写批改意见，只能填写整改说明、照片"),
    (ItemView("rechecking", "v", assignee="zhang"), ZHAO, "send_back", {"score": 95},
     "您不能填写抽查评分：只有分管领导可以填写"),
]


@pytest.mark.parametrize(("item", "actor", "trigger", "values", "said"), HELPCHECK_CASES)
def test_field_refusals_are_said_in_chinese(item: ItemView, actor: Actor, trigger: str,
                                            values: dict[str, object], said: str) -> None:
    """A field the step may not set (`sets`) or the person may not (`editable_by`) is said in
    Chinese on the page — before, the page showed "'complete' may not set 批改意见 (findings);
    it sets only ..." and "赵六 may not set 抽查评分 (score): only 分管领导 (leader) may"."""
    spec = load_workflow_file(FIXTURES / "helpcheck.yaml")
    with pytest.raises(Refused) as refused:
        StateGraph(spec).fire(item, actor, Request(trigger, fields=values, comment="退回"),
                              datetime.now(UTC))
    words = refusal_words(str(refused.value), refused.value.reason,
                          triggers={"complete": "整改完成"}, people={"zhang": "张三"})
    assert words == said


def test_a_second_signature_is_said_in_chinese() -> None:
    """会签 signed twice by one person (two tabs, or a slow page) — before, the page showed
    "高专干 has already signed 'cosign' (会签) (会签) in this state; each person signs once"."""
    line = ("高专干 has already signed 'cosign' (联合签字) (会签) in this state; "
            "each person signs once")
    assert refusal_words(line, "separation") == "您已在“联合签字”上签过字，每人只签一次"


def test_unknown_shapes_are_kept_and_logins_are_said() -> None:
    """A line the pages do not know is shown unchanged; login refusals have Chinese words."""
    assert refusal_words("the item changed underneath; try again", "state") == \
        "the item changed underneath; try again"
    assert login_words("wrong person or password") == "用户名或密码不正确"
    assert login_words("too many failed logins; try again in 8 seconds") == \
        "登录失败次数过多，请 8 秒后再试"
