"""How a person reads what a history row did: a transition by its label (交办), an automatic
step by its level (自动约谈), the engine's own rows in words (登记问题, 移交, 催办 ...), in the
session's language. `item show`'s card and the web's item page both name rows with `action`,
so the two never call the same row by different names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.i18n import N_, _, translate

__all__ = ["ROW_WORDS", "action"]

# Rows that are not a workflow's transition: their trigger (or kind) in words.
ROW_WORDS = {
    "create": N_("created"), "assign": N_("assigned"), "escalation": N_("escalated"),
    "migrate": N_("moved to another version"), "deadline": N_("deadline recomputed"),
    "extend": N_("more time asked"), "extension:granted": N_("more time granted"),
    "extension:refused": N_("more time refused"), "transfer": N_("transferred"),
    "urge": N_("urged"), "sample": N_("drawn for checking"),
}


def action(row: Mapping[str, Any], trigger_labels: Mapping[str, str]) -> str:
    """What `row` (a history entry of `item_detail`) did, in words: an escalation names its
    level, for a 约谈 must not read as a 督办 in the record of who was held to account."""
    trigger, kind = row["trigger"], row["kind"]
    if kind == "transition":
        return trigger_labels.get(trigger) or str(trigger)
    if kind == "signature":  # a 会签 that did not yet complete the step
        return _("{step} (signed)").format(step=trigger_labels.get(trigger) or trigger)
    level = (row.get("data") or {}).get("level") if kind == "escalation" else None
    if level:
        return _("automatic {level}").format(level=level)
    words = ROW_WORDS.get(trigger) or ROW_WORDS.get(kind)
    return translate(words) if words else str(trigger)
