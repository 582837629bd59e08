"""`rectify print`: the documents an office prints, built from the database as `Document`s
(engine/printing renders them).

- `notice`: the 督办单 of one item — number, item, unit, responsible person, problem, deadline,
  督办 level, issuing office and a 签收 line. Printed by someone holding a role at the item's
  unit or above.
- `publicity`: the 公示表 of the items in a public-notice state (`public: true`) — per
  item the fields the workflow shows, masked as its `mask:` keys say, the vote figures,
  the period, and where to object. Private fields appear only masked, and only when the
  workflow gives them a mask. Printed by someone holding a role at the unit or above. It
  counts households (以下N户) when every item posted is one (`--subject household:KEY`),
  otherwise items (以下N项): a 公示 of rectification results is not about households.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..core.errors import NotFound, Refusal, Refused, UsageError
from ..core.i18n import _
from ..core.masking import posted
from ..core.names import Named, UnitIndex
from ..core.spec import WorkflowSpec
from ..printing import Document, Section
from ..store import items as store
from ..store import reads, repo
from ..store.db import read
from ..store.reads import ItemFilter
from .service import Service

BLANK = "__________"
# What each `mask:` hides, as the 公示表's closing line names it.
MASKED_WORDS = {"name": "姓名", "id_card": "身份证号码", "phone": "联系电话"}


@dataclass(frozen=True)
class Issuer:
    actor: str | None
    office: str | None = None  # 发文单位 (default: the top unit's name)


def notice(service: Service, item_id: int, issuer: Issuer) -> Document:
    now = service.clock.now()
    with read(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        units = _units(conn)
        unit = units.by_id[item.unit_id]
        actor = service.actor(conn, issuer.actor, item.unit_path)
        if not actor.roles:
            raise Refused(_("{person} holds no role at {unit} or above, so may not print the "
                            "督办单 of item {item}").format(person=actor.name, unit=unit.name,
                                                         item=item.id), reason=Refusal.ROLE)
        assignee = repo.person(conn, item.assignee_id) if item.assignee_id else None
        rows = store.history(conn, item_id)
    tz = ZoneInfo(spec.timezone)
    today = now.astimezone(tz).date()
    office = issuer.office or _top(units)
    level = _level(rows, item)
    return Document(
        title="督办单", number=f"督办〔{today.year}〕{item.id}号",
        sections=(Section(rows=(
            ("事项编号", f"#{item.id}" + (f"（{item.ext_key}）" if item.ext_key else "")),
            ("事项类别", spec.title),
            ("责任单位", _place(units, unit)),
            ("责任人", assignee.name if assignee else "（未指定）"),
            ("问题", summary(spec, item.fields) or "（未填写）"),
            ("整改时限", _day(item.due_at.astimezone(tz).date()) if item.due_at else "未定"),
            ("督办级别", level),
            ("当前状态", spec.state_label(item.state)),
        )),),
        before=(f"{_place(units, unit)}：",),
        after=(f"请于整改时限前完成整改，并将整改情况及佐证材料报送{office}。逾期未完成的，"
               "将按规定进一步督办、约谈直至追责问责。",),
        signature=(f"发文单位：{office}（盖章）　　　　{_day(today)}",
                   f"签收人：{BLANK}　　签收日期：{BLANK}　　联系电话：{BLANK}"),
    )


def _level(rows: Sequence[dict[str, Any]], item: store.ItemRecord) -> str:
    """The latest level applied in the item's current stay in its state, else 督办."""
    levels = [(r["data"] or {}).get("level") for r in rows
              if r["kind"] == "escalation" and r["source"] == item.state
              and r["at"] >= item.entered_at]
    return next((lv for lv in reversed(levels) if lv), "督办")


def summary(spec: WorkflowSpec, values: dict[str, Any]) -> str:
    """What the item is about, from public fields: 问题描述, else its first text fields."""
    shown = [(n, f) for n, f in spec.fields.items() if not f.private and f.type == "text"
             and values.get(n) not in (None, "")]
    for name, f in shown:
        if name == "description" or f.label == "问题描述":
            return str(values[name])
    return "；".join(f"{f.label}：{values[n]}" for n, f in shown[:2])


@dataclass(frozen=True)
class Board:
    workflow: str
    state: str | None = None
    unit: str | None = None
    contact: str | None = None  # where to object (default: the unit above, and the office)


def publicity(service: Service, board: Board, issuer: Issuer) -> Document:
    now = service.clock.now()
    with read(service.engine) as conn:
        spec = service.latest(conn, board.workflow).spec
        states = _public_states(spec, board.state)
        units = _units(conn)
        scope = _scope(units, board.unit)
        actor = service.actor(conn, issuer.actor, scope.path)
        if not actor.roles:
            raise Refused(_("{person} holds no role at {unit} or above, so may not print its "
                            "公示表").format(person=actor.name, unit=scope.name),
                          reason=Refusal.ROLE)
        items = [r for state in states for r in _items(service, conn, spec, state, scope, now)]
    tz = ZoneInfo(spec.timezone)
    labels = "、".join(spec.state_label(s) for s in states)
    where = board.contact or _objection_office(units, scope, issuer.office or _top(units))
    sections = tuple(_entry(spec, n, r, tz) for n, r in enumerate(items, 1))
    return Document(
        title="公示", number=f"{scope.name}　{_day(now.astimezone(tz).date())}",
        before=(f"公示事项：{spec.title} — {labels}", *_posting(items)),
        sections=sections or (Section(rows=(("公示对象", "（目前无处于公示期的事项）"),)),),
        after=(f"公示期内如有异议，请以书面、电话或当面等方式向{where}反映。"
               + _masked_line(spec),),
        signature=(f"{scope.name}（盖章）　　　　{_day(now.astimezone(tz).date())}",),
    )


def _public_states(spec: WorkflowSpec, wanted: str | None) -> list[str]:
    public = [n for n, s in spec.states.items() if s.public]
    if not public:
        raise UsageError(_("workflow {name} ({title}) has no public-notice (公示) state: mark "
                           "one with `public: true`").format(name=spec.name, title=spec.title))
    if wanted is None:
        return public
    if wanted not in spec.states:  # an id: front ends turn labels into ids with `app.names`
        raise NotFound("state", wanted)
    found = [wanted]
    if wanted not in public:
        listed = "、".join(f"{spec.state_label(n)} ({n})" for n in public)
        raise UsageError(_("state {state} is not a public-notice (公示) state of {workflow}; "
                           "its 公示 states: {states}").format(
                               state=spec.state_label(found[0]), workflow=spec.title,
                               states=listed))
    return found[:1]


def _items(service: Service, conn: Any, spec: WorkflowSpec, state: str, scope: Named,
           now: datetime) -> Iterator[store.ItemRecord]:
    last = 0
    while True:
        page = reads.items_page(conn, ItemFilter(workflow=spec.name, state=state,
                                                 unit=scope.id), now, after=last, limit=500)
        yield from page
        if len(page) < 500:
            return
        last = page[-1].id


def _posting(items: Sequence[store.ItemRecord]) -> tuple[str, ...]:
    """The opening sentence: households (and their 民主评议) when every item is a household,
    else the items, in words that fit any workflow; none for an empty board (its table says
    that nothing is in 公示)."""
    if not items:
        return ()
    if all((i.subject or "").startswith("household:") for i in items):
        return (f"经民主评议和审核，现将以下{len(items)}户的有关情况予以公示，接受群众监督。",)
    return (f"经审核，现将以下{len(items)}项的有关情况予以公示，接受群众监督。",)


def _masked_line(spec: WorkflowSpec) -> str:
    """Which personal details are partly hidden: those the workflow masks, none when none."""
    masks = dict.fromkeys(f.mask for f in spec.fields.values() if f.mask in MASKED_WORDS)
    hidden = "、".join(MASKED_WORDS[m] for m in masks if m)
    return f"为保护个人信息，{hidden}已作部分隐去。" if hidden else ""


def _entry(spec: WorkflowSpec, number: int, item: store.ItemRecord,
           tz: ZoneInfo) -> Section:
    """One item's rows: shown fields (masked where the workflow says), and its period. A masked
    value written out in another field (an application naming the household head) is masked
    there too."""
    shown = posted(spec, item.fields)
    rows: list[tuple[str, str]] = []
    for name, f in spec.fields.items():
        value = shown.get(name)
        if value in (None, "", []) or f.type == "files":
            continue
        rows.append((f.label, _text(value)))
    start = item.entered_at.astimezone(tz).date()
    end = item.due_at.astimezone(tz).date() if item.due_at else None
    rows.append(("公示期", f"{_day(start)}至{_day(end)}" if end else f"自{_day(start)}起"))
    return Section(rows=tuple(rows), heading=f"{number}. {spec.state_label(item.state)}")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _units(conn: Any) -> UnitIndex:
    return UnitIndex(Named(u.id, u.name, u.path) for u in repo.units(conn))


def _scope(units: UnitIndex, wanted: str | None) -> Named:
    if wanted is None:
        roots = [u for u in units.by_id.values() if u.path.count("/") <= 2]
        if len(roots) != 1:
            raise UsageError(_("say which unit: --unit UNIT"))
        return roots[0]
    if wanted not in units.by_id:  # an id: front ends turn names into ids with `app.names`
        raise NotFound("unit", wanted)
    return units.by_id[wanted]


def _place(units: UnitIndex, unit: Named) -> str:
    """The unit with the units above it, below the top: 大杨集镇张庄村."""
    chain = units.chain(unit)
    return "".join(chain[1:] if len(chain) > 1 else chain)


def _top(units: UnitIndex) -> str:
    roots = [u for u in units.by_id.values() if u.path.count("/") <= 2]
    return roots[0].name if len(roots) == 1 else ""


def _objection_office(units: UnitIndex, scope: Named, office: str | None) -> str:
    chain = units.chain(scope)
    above = chain[-2] if len(chain) >= 2 else None
    named = [n for n in (scope.name, above, office) if n]
    return "或".join(dict.fromkeys(named))


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
