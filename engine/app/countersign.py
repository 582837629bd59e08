"""会签 at the edges: the signatures of the current state entry read for the core's decision,
a signature written as a history row that leaves the state as it is, and what `item show`
lists (signatures so far, who is still awaited). The rules are core/countersign.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..core.countersign import Signature, awaited
from ..core.machine import ItemView, Outcome
from ..core.spec import WorkflowSpec
from ..store import authority as grants
from ..store import items as store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from .service import Service


def with_signatures(conn: Connection, spec: WorkflowSpec, item: store.ItemRecord,
                    view: ItemView) -> ItemView:
    """The view with its entry's signatures, read only when a transition from the item's
    state is countersigned (most are not: then no query)."""
    if not any(t.countersign for t in spec.transitions_from(item.state)):
        return view
    return view._replace(signatures=_by_trigger(grants.entry_signatures(conn, item.id)))


def _by_trigger(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Signature, ...]]:
    out: dict[str, tuple[Signature, ...]] = {}
    for row in rows:
        roles = tuple((row["data"] or {}).get("roles") or ())
        out[row["trigger"]] = (*out.get(row["trigger"], ()), Signature(row["actor"], roles))
    return out


def signature_write(service: Service, item: store.ItemRecord, outcome: Outcome,
                    via: str) -> store.ItemWrite:
    """A signature that does not complete the rule: a history row; fields given with it are
    kept; the state, its deadline and its ladder stay."""
    assert outcome.signed is not None
    entry = service.entry(
        "signature", outcome.actor, outcome.at, via=via, trigger=outcome.transition.trigger,
        source=outcome.source, dest=outcome.source, comment=outcome.comment,
        data={"roles": list(outcome.signed.roles),
              "changes": {k: list(v) for k, v in outcome.changes.items()}})
    return store.ItemWrite(item=item, values={"fields": dict(outcome.fields),
                                              "cycle_actors": outcome.cycle_actors},
                           history=entry)


def with_history(view: ItemView, rows: Sequence[Mapping[str, Any]]) -> ItemView:
    """The view with its entry's signatures taken from the item's history, already read
    (`item show`: the triggers it offers leave out a 会签 the person has signed)."""
    return view._replace(signatures=_by_trigger(_entry_signatures(rows)))


def _entry_signatures(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    began = max((r["seq"] for r in rows if r["kind"] in ("create", "transition", "migrate")),
                default=0)
    return [r for r in rows if r["kind"] == "signature" and r["seq"] > began]


def signatures(spec: WorkflowSpec, item: store.ItemRecord,
               rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`item show`'s "signatures" (this state entry's) and "awaited" (per countersigned
    trigger from here: who must still sign)."""
    mine = _entry_signatures(rows)
    listed = [{"trigger": r["trigger"], "actor": r["actor"], "roles": (r["data"] or {})
               .get("roles", []), "at": r["at"].astimezone(ZoneInfo(spec.timezone)).isoformat(),
               "comment": r["comment"]}
              for r in mine]
    signed = _by_trigger(mine)
    waiting = {t.trigger: awaited(spec, t, signed.get(t.trigger, ()))
               for t in spec.transitions_from(item.state) if t.countersign}
    return {"signatures": listed, "awaited": waiting}
