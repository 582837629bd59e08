"""Templates: all bundled ones render, check_template reports mistakes, long messages split."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rectify.notifications.context import digest_context, item_context, sample_context
from rectify.notifications.message import Notification, Recipient
from rectify.notifications.render import (
    RenderError,
    check_template,
    compose,
    render,
    split_message,
    template_names,
)

BUNDLED = {
    "reminder", "overdue", "interview", "accountability", "assignment", "rejection",
    "notice_start", "notice_end", "daily_digest", "weekly_report",
    "extension_request", "extension_decision", "transfer", "urge", "escalation_fired",
    "escalation_refused",
    "late_steps",
}


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def test_bundled_names_exclude_partials() -> None:
    """The sixteen bundled templates are listed; `_item` and other partials are not."""
    assert template_names() == BUNDLED


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_template_renders_both_forms(name: str) -> None:
    """Text and Markdown render with the sample context; nothing shows as 'None' or blank."""
    subject, text, markdown = render(name, sample_context(name))
    assert subject and text and markdown
    assert "\n" not in subject
    for output in (subject, text, markdown):
        assert "None" not in output
    assert check_template(name, sample_context(name)) == []


@pytest.mark.parametrize("name", ["assignment", "reminder", "notice_start"])
def test_item_templates_survive_missing_optional_values(name: str) -> None:
    """No assignee, no deadline, no subject, no recipients, no step: still a sensible message."""
    item = {"id": 7, "workflow": "exit", "workflow_title": "退出程序", "state": "notice",
            "state_label": "公示中", "unit": "village-a1", "unit_name": "张庄村"}
    subject, text, _ = render(name, item_context(item, now="2024-05-09 09:00"))
    assert "#7" in subject
    assert "None" not in text


def test_rejection_carries_the_comment() -> None:
    """The acceptor's comment is what the rectifier needs to act on."""
    _, text, markdown = render("rejection", sample_context("rejection"))
    assert "佐证材料不全" in text and "佐证材料不全" in markdown


def test_digest_counts_and_lists_items() -> None:
    """The digest names the person, the counts and every item under its heading."""
    subject, text, _ = render("daily_digest", sample_context("daily_digest"))
    assert subject.startswith("【日清日结】王五")
    assert "超期 1 项" in subject
    assert all(f"#{n} " in text for n in (1, 2, 3, 4))


def test_weekly_report_ranks_units() -> None:
    """Rows come out in rank order with the score to one decimal."""
    _, text, markdown = render("weekly_report", sample_context("weekly_report"))
    assert text.index("大杨集镇") < text.index("小李庄镇") < text.index("城关街道")
    assert "89.5" in markdown


def test_only_the_fields_passed_are_shown() -> None:
    """Templates loop over `item.fields`; private fields stay out as callers never pass them."""
    context = sample_context("reminder", fields={"问题描述": "台账缺页"})
    _, text, markdown = render("reminder", context)
    assert "台账缺页" in text and "台账缺页" in markdown
    assert "问题类别" not in text


def test_undefined_variable_is_reported(tmp_path: Path) -> None:
    """StrictUndefined: a misspelt name is a check error with file and line, not a blank."""
    (tmp_path / "custom.txt.j2").write_text("主题\n\n正文 {{ itme.id }}\n", encoding="utf-8")
    problems = check_template("custom", sample_context("custom"), extra_dir=tmp_path)
    assert len(problems) == 1
    assert "custom.txt.j2:3" in problems[0] and "itme" in problems[0]


def test_sandbox_blocks_attribute_walks(tmp_path: Path) -> None:
    """`''.__class__.__mro__` is the classic sandbox escape; it is reported, not executed."""
    (tmp_path / "evil.txt.j2").write_text(
        "主题\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8"
    )
    problems = check_template("evil", sample_context("evil"), extra_dir=tmp_path)
    assert problems and "not allowed in a template" in problems[0]


def test_sandbox_forbids_mutating_the_context(tmp_path: Path) -> None:
    """The immutable sandbox stops a template from changing the data it is given."""
    (tmp_path / "mutate.txt.j2").write_text("主题\n{{ item.fields.clear() }}\n", encoding="utf-8")
    problems = check_template("mutate", sample_context("mutate"), extra_dir=tmp_path)
    assert problems and "not allowed" in problems[0]


def test_syntax_error_and_missing_template_are_reported(tmp_path: Path) -> None:
    """A broken tag names its line; an unknown template name says so."""
    (tmp_path / "broken.txt.j2").write_text("主题\n\n{% if x %}\n", encoding="utf-8")
    [problem] = check_template("broken", sample_context("broken"), extra_dir=tmp_path)
    assert "broken.txt.j2:" in problem
    assert check_template("nonesuch", sample_context())[0] == "template 'nonesuch.txt.j2' not found"
    with pytest.raises(RenderError, match="nonesuch"):
        render("nonesuch", sample_context())


def test_empty_subject_is_reported(tmp_path: Path) -> None:
    """The first line is the subject, so it may not be empty."""
    (tmp_path / "blank.txt.j2").write_text("\n正文\n", encoding="utf-8")
    [problem] = check_template("blank", sample_context("blank"), extra_dir=tmp_path)
    assert "subject" in problem


def test_admin_folder_overrides_and_markdown_follows_the_text(tmp_path: Path) -> None:
    """A workflow's own reminder wins; without its own .md.j2, the Markdown comes from its text."""
    (tmp_path / "reminder.txt.j2").write_text(
        "请尽快整改 #{{ item.id }}\n\n{{ item.unit_name }}：期限 {{ item.due_at }}\n",
        encoding="utf-8",
    )
    subject, text, markdown = render("reminder", sample_context("reminder"), extra_dir=tmp_path)
    assert subject == "请尽快整改 #1"
    assert text == "张庄村：期限 2024-05-10 18:00"
    assert markdown == "### 请尽快整改 #1\n\n张庄村：期限 2024-05-10 18:00"
    assert "reminder" in template_names(tmp_path)
    # The bundled overdue template is untouched by the override folder.
    overdue = render("overdue", sample_context("overdue"), extra_dir=tmp_path)
    assert overdue[0].startswith("【督办】")


def test_admin_templates_may_include_bundled_partials(tmp_path: Path) -> None:
    """An admin's template can reuse `_item.txt.j2` instead of copying it."""
    (tmp_path / "visit.txt.j2").write_text("入户回访\n\n{% include '_item.txt.j2' %}\n",
                                           encoding="utf-8")
    (tmp_path / "visit.md.j2").write_text("### 入户回访\n{% include '_item.md.j2' %}\n",
                                          encoding="utf-8")
    _, text, markdown = render("visit", sample_context("visit"), extra_dir=tmp_path)
    assert "单位：张庄村" in text and "- **单位**：张庄村" in markdown


def test_compose_packs_a_notification() -> None:
    """compose renders and keeps the context as data; to_dict/from_dict round-trip it."""
    people = [Recipient("wang", "王五", "wang@example.org", "13800000001")]
    notification = compose("item:1:reminder", "reminder", sample_context("reminder"), people,
                           item_id=1, unit="village-a1")
    assert notification.subject.startswith("【整改提醒】")
    assert notification.data["item"]["id"] == 1
    assert Notification.from_dict(notification.to_dict()) == notification


def _long_digest(count: int) -> dict[str, object]:
    items = [
        {"id": n, "workflow": "rectification", "workflow_title": "问题整改闭环",
         "state": "rectifying", "state_label": "整改中", "unit": "village-a1",
         "unit_name": f"张庄村第{n}组", "due_at": "2024-05-10 18:00"}
        for n in range(1, count + 1)
    ]
    return digest_context("王五", date="2024-05-09", due_soon=items[: count // 2],
                          overdue=items[count // 2:])


@pytest.mark.parametrize("limit", [4096, 2048])
def test_long_digest_splits_under_the_byte_limit(limit: int) -> None:
    """A digest of 300 items is cut at line ends into marked parts, each within the limit."""
    _, text, markdown = render("daily_digest", _long_digest(300))
    for message in (text, markdown):
        parts = split_message(message, limit)
        assert len(parts) > 2
        assert all(_utf8(p) <= limit for p in parts)
        assert all(p.startswith(f"({i}/{len(parts)})\n") for i, p in enumerate(parts, start=1))
        assert "\n".join(p.split("\n", 1)[1] for p in parts) == message


def test_short_message_is_not_marked() -> None:
    """A message that fits goes out as it is."""
    assert split_message("短消息", 100) == ["短消息"]


def test_overlong_line_is_cut_between_characters() -> None:
    """A single line longer than the limit is cut without breaking a UTF-8 character."""
    parts = split_message("整" * 100, 64)
    assert all(_utf8(p) <= 64 for p in parts)
    assert "".join(p.split("\n", 1)[1] for p in parts) == "整" * 100


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("a整改闭环\n🚩 "), max_size=600),
    limit=st.integers(min_value=16, max_value=300),
)
def test_split_parts_always_fit_and_keep_every_character(text: str, limit: int) -> None:
    """Property: every part within the limit, and no character lost or reordered."""
    parts = split_message(text, limit)
    assert all(_utf8(p) <= limit for p in parts)
    bodies = parts if len(parts) == 1 else [p.split("\n", 1)[1] for p in parts]
    assert "".join(bodies).replace("\n", "") == text.replace("\n", "")


@pytest.mark.parametrize(("name", "label"), [("notice_start", "公示截止"),
                                             ("notice_end", "办理期限"), ("overdue", "整改期限")])
def test_the_due_time_is_labelled_for_what_it_is(name: str, label: str) -> None:
    """A public notice's end is not a rectification deadline: 公示 notices say so."""
    _, text, markdown = render(name, sample_context(name))
    assert f"{label}：" in text and f"**{label}**：" in markdown
    if label != "整改期限":
        assert "整改期限：" not in text


def test_dict_keys_read_as_the_sandbox_reads_them() -> None:
    """The fast key lookup on plain dicts gives what Jinja's sandbox gives: a key, a dict's own
    method before a key of the same name, StrictUndefined for a missing key, and objects other
    than dicts through the sandbox (`_` attributes refused)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from rectify.notifications.render import _environment

    class Box:
        value = 3
        _hidden = 4

    context = {"d": {"id": 7, "items": "shadowed", "名称": "张庄村"}, "box": Box()}
    sources = ["{{ d.id }}", "{{ d['items'] }}", "{{ d.items() | list | length }}",
               "{{ d.名称 if false else d['名称'] }}", "{{ box.value }}",
               "{{ d.missing is defined }}"]
    reference = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    ours = _environment(None)
    for source in sources:
        assert ours.from_string(source).render(context) == \
            reference.from_string(source).render(context), source
    for broken in ("{{ d.missing }}", "{{ box._hidden }}"):
        with pytest.raises(Exception) as ours_error:
            ours.from_string(broken).render(context)
        with pytest.raises(Exception) as reference_error:
            reference.from_string(broken).render(context)
        assert type(ours_error.value) is type(reference_error.value)


def test_many_renders_share_one_alarm_handler_and_restore_it(tmp_path: Path) -> None:
    """Inside `rendering()` each notice still has its own budget (a looping one fails, the next
    renders), and afterwards SIGALRM's handler is what it was before."""
    import signal

    from rectify.notifications.render import rendering

    loop = "x\n{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    (tmp_path / "looping.txt.j2").write_text(loop, "utf-8")
    before = signal.getsignal(signal.SIGALRM)
    with rendering():
        with pytest.raises(RenderError, match="stopped after 1 s"):
            render("looping", {}, extra_dir=tmp_path)
        assert render("overdue", sample_context("overdue"), extra_dir=tmp_path)[0]
        assert signal.getsignal(signal.SIGALRM) is not before
    assert signal.getsignal(signal.SIGALRM) is before
