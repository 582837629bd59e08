"""The pages' templates (Jinja2, autoescaped) and what they are given: times in local wall time,
names instead of ids, Chinese words for history entries, and the evidence checks a reviewer
reads beside each photo.

Only presentation: the facts come from `engine/app/worklist.py` and `engine/app/item_page.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

from ..engine.app.history_words import action as row_action
from ..engine.app.item_page import Evidence, Form, ItemPage
from ..engine.core.fields import display
from ..engine.core.i18n import in_language
from ..engine.ledgers import argb, text_on
from ..engine.store.evidence import path_for
from ..engine.store.worklist import Grant
from .evidence import IMAGE_TYPES, content_type, photo_facts, place_text, size_text

TEMPLATES = Path(__file__).parent / "templates"
TZ = "Asia/Shanghai"
VIA_WORDS = {"web": "网页", "api": "接口", "cli": "命令行", "system": "系统"}


def local(value: datetime | str | None, tz: str = TZ) -> str:
    """`2025-10-10 18:00`, local wall time; an ISO string (from `item show`) is parsed first."""
    if value is None or value == "":
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is not None:
        at = at.astimezone(ZoneInfo(tz))
    return at.strftime("%Y-%m-%d %H:%M")


def local_date(value: datetime, tz: str = TZ) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True  # every template, whatever its suffix: field values are user text
    env.filters["local"] = local
    env.filters["local_date"] = local_date
    env.trim_blocks = env.lstrip_blocks = True
    return templates


def light_styles(colors: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Each light's colour from `[lights] colors` and the text colour that reads on it, for
    the pages' stylesheet (the weekly report and the ledger draw the same colours)."""
    return {name: (color, "#" + text_on(argb(color))[2:].lower())
            for name, color in colors.items()}


def board_links(grants: Sequence[Grant]) -> list[Grant]:
    """The top units a person holds roles at (a grant inside another adds no link)."""
    kept: list[Grant] = []
    for g in grants:  # top units first
        if not any(g.unit_path.startswith(k.unit_path) for k in kept):
            kept.append(g)
    return kept


def item_context(page: ItemPage, files_dir: Path, *, errors: Mapping[str, str] | None = None,
                 typed: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The item page's context. `errors`/`typed`: per trigger, the refusal line and what the
    person had typed, so a refused form comes back as they left it."""
    d, spec = page.detail, page.spec
    tz = spec.timezone
    fields = [{"label": spec.field_label(name), "value": display(value),
               "hidden": spec.fields[name].private and not page.private_ok}
              for name, value in d["fields"].items()
              if name in spec.fields and spec.fields[name].type != "files"]
    return {
        "id": d["id"], "summary": str(d["fields"].get("description") or d["subject"] or
                                      spec.title),
        "workflow_title": spec.title, "state_label": d["state_label"], "light": d["light"],
        "unit_id": d["unit"], "unit_name": d["unit_name"], "subject": d["subject"],
        "assignee_name": page.names.get(d["assignee"] or "", d["assignee"]),
        "due_at": d["due_at"], "due_provisional": d["due_provisional"], "fields": fields,
        "history": [_history(spec, h, page.names) for h in d["history"]],
        "escalations": [{"level": e["level"] or e["action"], "at": e["at"], "late": e["late"]}
                        for e in d["escalations"]],
        "pending": [{"level": _level(spec, e), "at": e["at"]} for e in d["pending_escalations"]],
        "evidence": [_evidence(page, e, files_dir, tz) for e in page.evidence],
        "forms": [_form(f, (errors or {}).get(f.trigger), (typed or {}).get(f.trigger))
                  for f in page.forms],
        # A refused step that has no form now (someone else moved the item first): its line
        # goes above the forms, or it would be lost.
        "general_error": next((line for trigger, line in (errors or {}).items()
                               if trigger not in {f.trigger for f in page.forms}), None),
    }


def _history(spec: Any, h: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    kind = h["kind"]
    data = h["data"] or {}
    if kind == "transition":
        action = _trigger_label(spec, h["trigger"])
    else:
        with in_language("zh"):  # the pages are Chinese, whatever the server's language
            action = row_action(h, {t.trigger: t.label for t in spec.transitions if t.label})
    changes = [{"label": spec.field_label(k), "value": display(v[1])}
               for k, v in (data.get("changes") or {}).items()
               if k in spec.fields and spec.fields[k].type != "files" and isinstance(v, list)
               and not spec.fields[k].private]
    if kind == "assign" and data.get("assignee"):
        who = data["assignee"][-1]
        changes.append({"label": "责任人", "value": names.get(who, who)})
    return {"at": h["at"], "actor_name": names.get(h["actor"], "系统" if h["actor"] == "system"
                                                    else h["actor"]),
            "action": action, "comment": h["comment"],
            "dest_label": spec.state_label(h["dest"]) if kind == "transition" else None,
            "via_label": VIA_WORDS.get(h.get("via") or ""), "changes": changes}


def _trigger_label(spec: Any, trigger: str | None) -> str:
    for t in spec.transitions:
        if t.trigger == trigger and t.label:
            return str(t.label)
    return trigger or ""


def _level(spec: Any, step: Mapping[str, Any]) -> str:
    state = spec.states.get(step["state"])
    if state and 0 < step["step"] <= len(state.escalate):  # counted from 1
        return str(state.escalate[step["step"] - 1].level or step["action"])
    return str(step["action"])


def _evidence(page: ItemPage, e: Evidence, files_dir: Path, tz: str) -> dict[str, Any]:
    path = path_for(files_dir, e.sha256)
    kind = content_type(path) if path.exists() else None
    is_image = kind in IMAGE_TYPES
    facts = photo_facts(path) if is_image else None
    flags = []
    taken = facts.taken_at if facts else None
    if taken is not None:
        aware = taken if taken.tzinfo else taken.replace(tzinfo=ZoneInfo(tz))
        if aware < page.assigned_at:
            flags.append(f"拍摄时间（{local(aware, tz)}）早于交办时间"
                         f"（{local(page.assigned_at, tz)}）")
    if e.also_hidden:
        flags.append(f"同一文件还用于 {e.also_hidden} 个您无权查看的事项")
    base = f"/items/{page.detail['id']}/files/{e.sha256}"
    return {"name": e.name, "size_text": size_text(e.size), "field_label": e.field_label,
            "added_at": e.added_at, "url": base, "is_image": is_image,
            "thumb_url": f"{base}?thumb=1" if is_image and kind != "image/heic" else None,
            "taken_at": local(taken, tz) if taken else None,
            "place": place_text(facts.place) if facts and facts.place else None,
            "flags": flags, "also_on": e.also_on}


def _form(form: Form, error: str | None, typed: Mapping[str, str] | None) -> dict[str, Any]:
    typed = typed or {}
    fields = [{"name": f.name, "label": f.label, "type": f.type, "choices": f.choices,
               "required": f.required,
               "value": typed.get(f"f.{f.name}", _start_value(f.current))}
              for f in form.fields]
    photos = None
    if form.photos_field:
        photos = {"label": "照片或佐证材料", "required": form.photos_required,
                  "existing": form.photos_existing}
    return {"trigger": form.trigger, "label": form.label, "dest_label": form.dest_label,
            "fields": fields, "comment_required": form.comment_required,
            "comment": typed.get("comment", ""), "photos": photos, "error": error}


def _start_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
