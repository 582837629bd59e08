"""转办 and 催办: `item transfer` moves an item to another unit (by an assigner holding the role
at a unit above both), `item urge` records a push from above and tells the assignee. Each is one
write transaction: the item's history row and its notice (and, for a transfer, the new unit)."""

from __future__ import annotations

from typing import Any

from ...engine.core.i18n import _
from ..core import authority
from ..core.errors import Refusal, Refused
from ..core.org import ancestors
from ..store import authority as grants
from ..store import items as store
from ..store import repo
from ..store.db import write
from . import lookups
from .service import Service


def _common_path(a: str, b: str) -> str:
    """The path of the nearest unit above or at both: '/c/t1/v1/' and '/c/t2/' -> '/c/'."""
    common: list[str] = []
    for x, y in zip(a.strip("/").split("/"), b.strip("/").split("/"), strict=False):
        if x != y:
            break
        common.append(x)
    return "/" + "".join(f"{p}/" for p in common) if common else "/"


def transfer(service: Service, item_id: int, actor_id: str | None, unit_id: str,
             assignee: str | None, comment: str, *, via: str = "cli") -> dict[str, Any]:
    if not (comment or "").strip():
        raise Refused(_("a transfer (转办) needs its reason (--comment)"), reason=Refusal.COMMENT)
    now = service.clock.now()
    with write(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        if item.final:
            raise Refused(_("item {id} is closed ({state_label}) and cannot be "
                            "transferred").format(
                              id=item.id, state_label=spec.state_label(item.state)),
                          reason=Refusal.STATE)
        old, new = repo.unit(conn, item.unit_id), repo.unit(conn, unit_id)
        common = _common_path(old.path, new.path)
        actor = service.actor(conn, actor_id, common)
        if not actor.roles & set(spec.assigners):
            above = ancestors(common)[0] if common != "/" else None
            where = repo.unit(conn, above).name if above else _("a unit above both")
            raise Refused(_("{person} may not transfer items of '{workflow}' from "
                            "{old_unit} to {new_unit}: it needs the role {roles_text} at "
                            "{where} or above").format(
                              person=actor.name, workflow=spec.name, old_unit=old.name,
                              new_unit=new.name,
                              roles_text=authority.roles_text(spec, spec.assigners), where=where),
                          reason=Refusal.ROLE)
        if assignee is not None and not grants.serves(conn, assignee, new.path):
            raise Refused(_("cannot transfer to '{assignee}': they hold no role at "
                            "{name}, above or below it").format(
                              assignee=assignee, name=new.name), reason=Refusal.ROLE)
        values: dict[str, Any] = {"unit_id": new.id, "unit_path": new.path,
                                  "assignee_id": assignee}
        entry = service.entry("transfer", actor.id, now, via=via, trigger="transfer",
                              comment=comment, data={"unit": [old.id, new.id],
                                                     "assignee": [item.assignee_id, assignee]})
        after = item._replace(**values)
        notify = ("assignee",) if assignee else ()
        directory = lookups.read(conn, lookups.wanted().item(after, notify, actor.id))
        outbox = service.notices.for_event(
            directory, spec, after, key=f"item:{item.id}:h{item.last_seq + 1}:t",
            template="transfer", notify=notify, now=now,
            comment=comment, actor=actor.id)
        store.apply_write(conn, store.ItemWrite(item=item, values=values, history=entry,
                                                outbox=outbox))
    return {"id": item_id, "unit": new.id, "assignee": assignee}


def urge(service: Service, item_id: int, actor_id: str | None, comment: str, *,
         via: str = "cli") -> dict[str, Any]:
    """催办: by anyone holding a role above the item's unit; recorded and sent to the assignee."""
    if not (comment or "").strip():
        raise Refused(_("an urge (催办) needs its words (--comment)"), reason=Refusal.COMMENT)
    now = service.clock.now()
    with write(service.engine) as conn:
        item = store.get_item(conn, item_id)
        spec = service.compiled(conn, item.workflow_version_id).spec
        unit = repo.unit(conn, item.unit_id)
        if item.final:
            raise Refused(_("item {id} is closed ({state_label}): nothing to urge").format(
                              id=item.id, state_label=spec.state_label(item.state)),
                          reason=Refusal.STATE)
        actor = service.actor(conn, actor_id, unit.path.removesuffix(f"{unit.id}/") or "/")
        if not actor.roles or unit.parent_id is None:
            raise Refused(_("{person} holds no role above {unit} and so may not "
                            "urge its items").format(
                              person=actor.name, unit=unit.name), reason=Refusal.ROLE)
        entry = service.entry("urge", actor.id, now, via=via, trigger="urge", comment=comment)
        directory = lookups.read(conn, lookups.wanted().item(item, ("assignee",), actor.id))
        outbox = service.notices.for_event(
            directory, spec, item, key=f"item:{item.id}:h{item.last_seq + 1}:u", template="urge",
            notify=("assignee",), now=now, comment=comment, actor=actor.id)
        store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry,
                                                outbox=outbox))
    return {"id": item_id, "urged_by": actor.id}
