"""What templates see: the context builders, and realistic samples for checking templates.

The builders fill every key (None where it does not apply) so that templates, rendered with
StrictUndefined, fail only on real mistakes. The caller converts times to the workflow's local
time and passes ONLY non-private fields (`private: true` fields never reach a template).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ITEM_KEYS = (
    "id", "workflow", "workflow_title", "state", "state_label", "unit", "unit_name",
    "assignee_name", "due_at", "fields", "subject", "summary",
)
ROW_KEYS = (
    "rank", "unit_name", "found", "closed", "closed_on_time", "overdue", "rejected", "score",
)
DIGEST_TEMPLATES = frozenset({"daily_digest"})
LATE_TEMPLATES = frozenset({"late_steps"})  # late step notices folded (notifications/fold.py)
WEEKLY_TEMPLATES = frozenset({"weekly_report"})
ESCALATION_LEVELS = {"reminder": "提醒", "overdue": "督办", "interview": "约谈",
                     "accountability": "问责", "escalation_fired": "问责",
                     "escalation_refused": "督办"}
_OPTIONAL_ITEM_KEYS = {"assignee_name": None, "due_at": None, "subject": None, "summary": None}
_ABSENT = object()


def show_time(value: dt.date | str | None) -> str | None:
    """Local wall time as staff read it: `2024-05-10 18:00`; strings pass through."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def item_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as templates see it (see ITEM_KEYS); optional keys default to None."""
    view = {k: item.get(k, _OPTIONAL_ITEM_KEYS.get(k, _ABSENT)) for k in ITEM_KEYS}
    missing = [k for k, v in view.items() if v is _ABSENT and k != "fields"]
    if missing:
        raise ValueError(f"item view lacks {', '.join(missing)}")
    view["due_at"] = show_time(view["due_at"])
    view["fields"] = dict(item.get("fields") or {})
    return view


def item_context(
    item: Mapping[str, Any],
    *,
    now: dt.datetime | str,
    step: Mapping[str, Any] | None = None,
    comment: str | None = None,
    actor_name: str | None = None,
    recipients: Iterable[str] = (),
    complete: bool = False,
    item_url: str | None = None,
) -> dict[str, Any]:
    """Context of an item event: escalation step, transition, public notice. `complete`: the
    parts are already in shape (notices makes them: the item a view with every key, times
    local and shown, the step with its three keys), so they are taken as they are: a sweep
    builds thousands of these. `item_url`: the item's page (`[web] base_url` set), or None;
    templates print it when set, and test `item_url is defined` for contexts stored before."""
    if complete:
        return {"item": item, "step": step, "comment": comment, "actor_name": actor_name,
                "recipients": list(recipients), "now": now, "item_url": item_url}
    return {
        "item_url": item_url,
        "item": item_view(item),
        "step": None if step is None else {
            "level": step.get("level"),
            "at": show_time(step.get("at")),
            "late": bool(step.get("late", False)),
            "fired": step.get("fired"),
            "refused": step.get("refused"),
            "who": step.get("who"),
        },
        "comment": comment,
        "actor_name": actor_name,
        "recipients": list(recipients),
        "now": show_time(now),
    }


def digest_context(
    person_name: str,
    *,
    date: dt.date | str,
    due_soon: Sequence[Mapping[str, Any]] = (),
    overdue: Sequence[Mapping[str, Any]] = (),
    new: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Context of one person's daily digest (日清日结); item dicts as in item_view."""
    return {
        "person": {"name": person_name},
        "date": show_time(date),
        "due_soon": [item_view(i) for i in due_soon],
        "overdue": [item_view(i) for i in overdue],
        "new": [item_view(i) for i in new],
    }


def weekly_context(week: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Context of the weekly report (每周通报): one row per unit, best first."""
    for row in rows:
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"weekly row lacks {', '.join(missing)}")
    return {"week": week, "rows": [{k: row[k] for k in ROW_KEYS} for row in rows]}


def sample_context(
    template: str = "reminder",
    *,
    fields: Mapping[str, str] | None = None,
    workflow_title: str = "问题整改闭环",
    state_label: str = "整改中",
    escalation: bool | None = None,
) -> dict[str, Any]:
    """A realistic context for `template`, to check it renders before anything is sent.

    `fields` are label -> sample value of the workflow's non-private fields. `escalation`
    says whether `step` is set (None: guessed from the name; set it when a workflow uses a
    template on a transition, where `step` is None).
    """
    if template in DIGEST_TEMPLATES:
        return _sample_digest()
    if template in WEEKLY_TEMPLATES:
        return _sample_weekly()
    if template in LATE_TEMPLATES:
        return _sample_late()
    item = _sample_item(1, workflow_title, state_label, fields)
    if escalation is None:
        escalation = template not in {"assignment", "rejection", "notice_start", "notice_end"}
    level = ESCALATION_LEVELS.get(template, "提醒")
    step = {"level": level, "at": "2024-05-10 18:00", "late": level != "提醒",
            "fired": "追责问责" if template.startswith("escalation_") else None,
            "refused": ("'hold_accountable' (追责问责)：条件“score >= 60”不满足：评分 (score) "
                        "为空") if template == "escalation_refused" else None,
            "who": "分管领导" if template == "escalation_refused" else None}
    return item_context(
        item,
        now="2024-05-09 09:00",
        step=step if escalation else None,
        comment="佐证材料不全，请补充入户核实照片。" if template == "rejection" else None,
        actor_name="李四",
        recipients=["王五", "赵六"],
        item_url="https://rectify.example.gov.cn/items/1",
    )


def _sample_item(
    number: int,
    workflow_title: str = "问题整改闭环",
    state_label: str = "整改中",
    fields: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": number, "workflow": "rectification", "workflow_title": workflow_title,
        "state": "rectifying", "state_label": state_label, "unit": "village-a1",
        "unit_name": "张庄村", "assignee_name": "王五", "due_at": "2024-05-10 18:00",
        "subject": f"household:37152{number:04d}", "summary": "户籍信息与实际不符",
        "fields": dict(fields) if fields is not None else {
            "问题描述": "脱贫户家庭人口信息与实际不符", "问题类别": "信息不实",
        },
    }


def _sample_digest() -> dict[str, Any]:
    return digest_context(
        "王五", date="2024-05-09",
        due_soon=[_sample_item(1), _sample_item(2)],
        overdue=[_sample_item(3, state_label="待验收")],
        new=[_sample_item(4)],
    )


def _sample_weekly() -> dict[str, Any]:
    units = ["大杨集镇", "小李庄镇", "城关街道"]
    rows = [
        {"rank": n, "unit_name": name, "found": 12 - n, "closed": 10 - 2 * n,
         "closed_on_time": 9 - 2 * n, "overdue": n, "rejected": n - 1, "score": 96.5 - 7 * n}
        for n, name in enumerate(units, start=1)
    ]
    return weekly_context("2024-W19", rows)


def _sample_late() -> dict[str, Any]:
    """A folded message of late steps: three listed, 120 more counted."""
    levels = ("提醒", "督办", "约谈")
    entries = [{"item": item_view(_sample_item(n)), "at": "2024-05-10 18:00", "level": level,
                "fired": None, "refused": None, "who": None}
               for n, level in enumerate(levels, start=1)]
    entries[-1] |= {"fired": "追责问责", "refused": "条件不满足", "who": "分管领导"}
    return {"recipients": ["王五"], "count": len(entries) + 120, "entries": entries,
            "more": 120, "item_url": None}
